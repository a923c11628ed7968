-- create: write a new execution record, its input and its index entries.
-- KEYS[1] meta hash, KEYS[2] input, KEYS[3] events stream, KEYS[4] running zset,
-- KEYS[5..] index zsets (scored by creation time).
-- ARGV[1] created ms, ARGV[2] input bytes, ARGV[3] initial state, ARGV[4] events maxlen,
-- ARGV[5..] field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SET', KEYS[2], ARGV[2])
local id = redis.call('HGET', KEYS[1], 'id')
for i = 5, #KEYS do redis.call('ZADD', KEYS[i], ARGV[1], id) end
if ARGV[3] == 'running' then redis.call('ZADD', KEYS[4], ARGV[1], id) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status',
  'data', '{"state":"' .. ARGV[3] .. '","attempt":1}')
return 1
