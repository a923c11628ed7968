-- cancel: queued or scheduled → stopped at once (a scheduled one leaves the due
-- set, KEYS[6]); running → flag + publish so the worker that
-- runs it cancels the job's context. Returns the state seen.
-- KEYS[1] meta, KEYS[2] events, KEYS[3] ix queued, KEYS[4] ix stopped, KEYS[5] log stream,
-- KEYS[6] due set (the indexes move with lib/index's ix_move).
-- ARGV[1] id, ARGV[2] now ms, ARGV[3] events maxlen, ARGV[4] cancel channel, ARGV[5] done channel.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at', 'job_type', 'owner', 'cb_url')
if not st[1] then return 'missing' end
if st[1] == 'queued' or st[1] == 'scheduled' then
  ensure_events(KEYS[1], KEYS[2], KEYS[5], ARGV[3])
  redis.call('HSET', KEYS[1], 'state', 'stopped', 'finished_at', ARGV[2], 'cancel', '1',
    'solver_status', 'not_solved', 'has_solution', '0')
  ix_move(ix_prefix(KEYS[3]), ARGV[1], st[3], st[1], 'stopped', st[4], st[5])
  if KEYS[6] then redis.call('ZREM', KEYS[6], ARGV[1]) end
  if st[6] then cb_due(ix_prefix(KEYS[3]), KEYS[1], ARGV[1], ARGV[2]) end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status',
    'data', '{"state":"stopped","attempt":' .. st[2] .. '}')
  redis.call('PUBLISH', ARGV[5], ARGV[1])
  return st[1]
end
if st[1] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  redis.call('PUBLISH', ARGV[4], ARGV[1])
  return 'running'
end
return st[1]
