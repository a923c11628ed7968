-- create: write a new execution record, its input and its index entries, and
-- (when ARGV[5] is "1") its asynq task in the same step, so that a record never
-- exists without its task nor a task without its record. The task's id derives
-- from the new record's id, so a free record id means a free task id. No event
-- is written: the record is the history until the stream is needed (lib/events).
-- KEYS[1] meta hash, KEYS[2] input, then when a task is written: KEYS[3] task
-- hash, KEYS[4] pending list, KEYS[5] asynq queues set; then the index zsets
-- (scored by creation time).
-- ARGV[1] created ms, ARGV[2] input bytes, ARGV[3] "1" to add the queue to
-- asynq's set of queues (once per queue and process, as asynq's own client
-- does), ARGV[4] id, ARGV[5] "1" with a task else "0", ARGV[6] task id,
-- ARGV[7] task message, ARGV[8] queue name, ARGV[9] pending since (unix ns),
-- ARGV[10..] field/value pairs.
-- Returns 1 when written, 0 when the record exists.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ix = 3
if ARGV[5] == '1' then ix = 6 end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
redis.call('SET', KEYS[2], ARGV[2])
for i = ix, #KEYS do redis.call('ZADD', KEYS[i], ARGV[1], ARGV[4]) end
if ARGV[5] == '1' then
  if ARGV[3] == '1' then redis.call('SADD', KEYS[5], ARGV[8]) end
  redis.call('HSET', KEYS[3], 'msg', ARGV[7], 'state', 'pending', 'pending_since', ARGV[9])
  redis.call('LPUSH', KEYS[4], ARGV[6])
end
return 1
