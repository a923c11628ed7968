-- start: queued → running for one attempt. Returns {1, fields, input}: the
-- record fields a worker needs, as they were before (HMGET of exactly the
-- names, in the order of store's sf* constants), and the input, so the worker
-- needs one round trip. Anything else (stale attempt, terminal state,
-- cancelled) returns {0, state, attempt} and the worker does nothing.
-- Reading only these fields, not the whole record, cut start's Redis time by
-- about a quarter.
-- KEYS[1] meta, KEYS[2] input, KEYS[3] events, KEYS[4] ix queued, KEYS[5] ix running.
-- ARGV[1] id, ARGV[2] attempt, ARGV[3] worker, ARGV[4] now ms, ARGV[5] events maxlen.
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at', 'ev', 'job_type', 'kind',
  'solver', 'queue', 'config', 'metadata', 'timeout_ms', 'retries', 'max_retries')
if f[1] ~= 'queued' or f[2] ~= ARGV[2] then
  if not f[1] then return {0, 'missing', '0'} end
  return {0, f[1], f[2] or ''}
end
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[3], 'started_at', ARGV[4],
  'heartbeat', ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], f[3], ARGV[1])
if f[4] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'type', 'status',
    'data', '{"state":"running","attempt":' .. ARGV[2] .. ',"worker":' .. cjson.encode(ARGV[3]) .. '}')
end
return {1, f, redis.call('GET', KEYS[2])}
