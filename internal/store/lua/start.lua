-- start: queued → running for one attempt. Returns {1, fields, input}: the
-- record fields a worker needs, as they were before (HMGET of exactly the
-- names, in the order of store's sf* constants), and the input, so the worker
-- needs one round trip. Anything else (stale attempt, terminal state,
-- cancelled) returns {0, state, attempt} and the worker does nothing. A start
-- sent again for an attempt the same worker already started (its first
-- reply was lost) returns {2, fields, input}, so the worker runs the attempt
-- instead of leaving it running with nobody on it.
-- Reading only these fields, not the whole record, cut start's Redis time by
-- about a quarter.
-- KEYS[1] meta, KEYS[2] input (a small input is the record's field "in"
-- instead), KEYS[3] events, KEYS[4] ix queued, KEYS[5] ix running (the
-- indexes move with lib/index's ix_move).
-- ARGV[1] id, ARGV[2] attempt, ARGV[3] worker, ARGV[4] now ms, ARGV[5] events maxlen.
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at', 'ev', 'job_type', 'kind',
  'solver', 'queue', 'config', 'metadata', 'timeout_ms', 'retries', 'max_retries', 'worker', 'owner', 'in',
  'require_tags', 'tags', 'run_at', 'tp')
if f[1] == 'running' and f[2] == ARGV[2] and f[14] == ARGV[3] then
  -- This worker started this attempt already: an earlier send of this call
  -- ran but its reply was lost. Start it again ({2, ...}), changing nothing.
  return {2, f, redis.call('GET', KEYS[2]) or f[16]}
end
if f[1] ~= 'queued' or f[2] ~= ARGV[2] then
  if not f[1] then return {0, 'missing', '0'} end
  return {0, f[1], f[2] or ''}
end
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[3], 'started_at', ARGV[4],
  'heartbeat', ARGV[4])
ix_move(ix_prefix(KEYS[4]), ARGV[1], f[3], 'queued', 'running', f[5], f[15])
if f[4] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'type', 'status',
    'data', '{"state":"running","attempt":' .. ARGV[2] .. ',"worker":' .. cjson.encode(ARGV[3]) .. '}')
end
return {1, f, redis.call('GET', KEYS[2]) or f[16]}
