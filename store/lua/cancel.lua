-- cancel: queued → stopped at once; running → flag + publish so the worker that
-- runs it cancels the job's context. Returns the state seen.
-- KEYS[1] meta, KEYS[2] events, KEYS[3] ix queued, KEYS[4] ix stopped, KEYS[5] log stream.
-- ARGV[1] id, ARGV[2] now ms, ARGV[3] events maxlen, ARGV[4] cancel channel, ARGV[5] done channel.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at')
if not st[1] then return 'missing' end
if st[1] == 'queued' then
  ensure_events(KEYS[1], KEYS[2], KEYS[5], ARGV[3])
  redis.call('HSET', KEYS[1], 'state', 'stopped', 'finished_at', ARGV[2], 'cancel', '1',
    'solver_status', 'not_solved', 'has_solution', '0')
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], st[3], ARGV[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status',
    'data', '{"state":"stopped","attempt":' .. st[2] .. '}')
  redis.call('PUBLISH', ARGV[5], ARGV[1])
  return 'queued'
end
if st[1] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  redis.call('PUBLISH', ARGV[4], ARGV[1])
  return 'running'
end
return st[1]
