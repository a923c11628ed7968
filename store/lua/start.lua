-- start: queued → running for one attempt; returns the record as it was before
-- (the caller applies the running fields it passed) and the input, so the worker
-- needs one round trip. Anything else (stale attempt, terminal state, cancelled)
-- returns {0, state, attempt} and the worker does nothing.
-- KEYS[1] meta, KEYS[2] input, KEYS[3] events, KEYS[4] ix queued, KEYS[5] ix running,
-- KEYS[6] running zset. ARGV[1] id, ARGV[2] attempt, ARGV[3] worker, ARGV[4] now ms,
-- ARGV[5] events maxlen.
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then return {0, 'missing', '0'} end
local state, attempt, created
for i = 1, #all, 2 do
  local f = all[i]
  if f == 'state' then state = all[i + 1]
  elseif f == 'attempt' then attempt = all[i + 1]
  elseif f == 'created_at' then created = all[i + 1] end
end
if state ~= 'queued' or attempt ~= ARGV[2] then return {0, state or '', attempt or ''} end
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[3], 'started_at', ARGV[4],
  'heartbeat', ARGV[4], 'progress', '0', 'progress_msg', '')
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], created, ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'type', 'status',
    'data', '{"state":"running","attempt":' .. ARGV[2] .. ',"worker":' .. cjson.encode(ARGV[3]) .. '}')
end
return {1, all, redis.call('GET', KEYS[2])}
