-- create: write a new execution record, its input and its index entries, and
-- (when ARGV[5] is "1") its asynq task in the same step, so that a record never
-- exists without its task nor a task without its record.
-- KEYS[1] meta hash, KEYS[2] input, KEYS[3] events stream, KEYS[4] running zset,
-- then when a task is written: KEYS[5] task hash, KEYS[6] pending list,
-- KEYS[7] asynq queues set; then the index zsets (scored by creation time).
-- ARGV[1] created ms, ARGV[2] input bytes, ARGV[3] initial state, ARGV[4] events maxlen,
-- ARGV[5] "1" with a task else "0", ARGV[6] task id, ARGV[7] task message,
-- ARGV[8] queue name, ARGV[9] pending since (unix ns), ARGV[10..] field/value pairs.
-- Returns 1 when written, 0 when the record exists, -1 when the task exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ix = 5
if ARGV[5] == '1' then
  if redis.call('EXISTS', KEYS[5]) == 1 then return -1 end
  ix = 8
end
local fields = {}
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SET', KEYS[2], ARGV[2])
local id = redis.call('HGET', KEYS[1], 'id')
for i = ix, #KEYS do redis.call('ZADD', KEYS[i], ARGV[1], id) end
if ARGV[3] == 'running' then redis.call('ZADD', KEYS[4], ARGV[1], id) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status',
  'data', '{"state":"' .. ARGV[3] .. '","attempt":1}')
if ARGV[5] == '1' then
  redis.call('SADD', KEYS[7], ARGV[8])
  redis.call('HSET', KEYS[5], 'msg', ARGV[7], 'state', 'pending', 'pending_since', ARGV[9])
  redis.call('LPUSH', KEYS[6], ARGV[6])
end
return 1
