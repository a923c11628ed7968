-- start: queued → running for one attempt; returns the record and the input so
-- the worker needs one round trip. Anything else (stale attempt, terminal state,
-- cancelled) returns {0, state, attempt} and the worker does nothing.
-- KEYS[1] meta, KEYS[2] input, KEYS[3] events, KEYS[4] ix queued, KEYS[5] ix running,
-- KEYS[6] running zset. ARGV[1] id, ARGV[2] attempt, ARGV[3] worker, ARGV[4] now ms,
-- ARGV[5] events maxlen.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at')
if not st[1] then return {0, 'missing', '0'} end
if st[1] ~= 'queued' or st[2] ~= ARGV[2] then return {0, st[1], st[2]} end
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[3], 'started_at', ARGV[4],
  'heartbeat', ARGV[4], 'progress', '0', 'progress_msg', '')
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], st[3], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'type', 'status',
  'data', '{"state":"running","attempt":' .. ARGV[2] .. ',"worker":"' .. ARGV[3] .. '"}')
return {1, redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2])}
