-- requeue: start a new attempt. Modes:
--   retry    running(attempt) → queued(attempt+1) after an unexpected error or a
--            worker's shutdown, or stopped when a cancel was requested
--   lost     running(attempt) with a heartbeat older than ARGV[5] → queued(attempt+1),
--            or stopped when a cancel was requested, or failed past ARGV[6] lost attempts
--   relaunch terminal → queued(attempt+1), clearing the previous result
-- KEYS[1] meta, KEYS[2] solution, KEYS[3] incumbent, KEYS[4] events, KEYS[5] ix queued,
-- KEYS[6] ix running, KEYS[7] ix stopped, KEYS[8] ix failed, KEYS[9] ix succeeded,
-- KEYS[10] ix timed_out, KEYS[11] log stream (the indexes move with lib/index's
-- ix_move, which also moves the composite ones).
-- ARGV[1] id, ARGV[2] mode, ARGV[3] expected attempt ('' = any), ARGV[4] now ms,
-- ARGV[5] heartbeat cutoff ms, ARGV[6] max lost, ARGV[7] events maxlen, ARGV[8] done channel,
-- ARGV[9] error json ('' none), ARGV[10] new config ('' keep), ARGV[11] the solver the new
-- config selects ('' none; only read with a new config), ARGV[12] a traceparent that
-- replaces the stored one ('' keeps it; relaunch only).
-- Returns {code, attempt, state}: code 1 requeued, 2 terminal written, 0 nothing done.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at', 'heartbeat', 'lost', 'cancel', 'retries',
  'job_type', 'owner', 'cb_url')
if not st[1] then return {0, '0', 'missing'} end
local state, attempt, created = st[1], tonumber(st[2]), st[3]
if ARGV[3] ~= '' and st[2] ~= ARGV[3] then return {0, st[2], state} end
local function ev(data)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'type', 'status', 'data', data)
end
local function move(to)
  ix_move(ix_prefix(KEYS[5]), ARGV[1], created, state, to, st[8], st[9])
end
-- terminal ends the attempt in state final instead of requeueing it, with
-- its last incumbent as the solution.
local function terminal(final)
  local has = '0'
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('RENAME', KEYS[3], KEYS[2])
    has = '1'
  end
  local status = 'not_solved'
  if has == '1' then status = 'feasible' end
  redis.call('HSET', KEYS[1], 'state', final, 'finished_at', ARGV[4], 'has_solution', has,
    'solver_status', status, 'heartbeat', '')
  if final == 'failed' then redis.call('HSET', KEYS[1], 'error', ARGV[9]) end
  move(final)
  if st[10] then cb_due(ix_prefix(KEYS[5]), KEYS[1], ARGV[1], ARGV[4]) end
  ev('{"state":"' .. final .. '","attempt":' .. attempt .. '}')
  redis.call('PUBLISH', ARGV[8], ARGV[1])
  return {2, tostring(attempt), final}
end
local mode = ARGV[2]
if mode == 'retry' or mode == 'lost' then
  if state ~= 'running' then return {0, st[2], state} end
  if mode == 'lost' then
    if st[4] and st[4] ~= '' and tonumber(st[4]) > tonumber(ARGV[5]) then return {0, st[2], state} end
    ensure_events(KEYS[1], KEYS[4], KEYS[11], ARGV[7])
    ev('{"state":"lost","attempt":' .. attempt .. '}')
    local lost = tonumber(st[5] or '0') + 1
    redis.call('HSET', KEYS[1], 'lost', lost)
    if st[6] == '1' then return terminal('stopped') end
    if lost > tonumber(ARGV[6]) then return terminal('failed') end
  else
    ensure_events(KEYS[1], KEYS[4], KEYS[11], ARGV[7])
    -- A cancel accepted while the attempt ran is not undone by a retry
    -- (nor by a worker's shutdown): the execution ends stopped.
    if st[6] == '1' then return terminal('stopped') end
    redis.call('HSET', KEYS[1], 'retries', tonumber(st[7] or '0') + 1)
  end
elseif mode == 'relaunch' then
  if state ~= 'succeeded' and state ~= 'failed' and state ~= 'stopped' and state ~= 'timed_out' then
    return {0, st[2], state}
  end
  ensure_events(KEYS[1], KEYS[4], KEYS[11], ARGV[7])
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'retries', '0', 'lost', '0')
  redis.call('HDEL', KEYS[1], 'objective', 'best_bound', 'gap', 'stats', 'checks', 'kpis', 'log_json', 'solver_status')
  redis.call('HDEL', KEYS[1], 'cb_state', 'cb_n', 'cb_first')
else
  return redis.error_reply('unknown mode')
end
attempt = attempt + 1
redis.call('HSET', KEYS[1], 'state', 'queued', 'attempt', attempt, 'worker', '', 'started_at', '',
  'heartbeat', '', 'finished_at', '', 'progress', '0', 'progress_msg', '', 'cancel', '0', 'has_solution', '0')
if ARGV[9] ~= '' and mode ~= 'relaunch' then redis.call('HSET', KEYS[1], 'error', ARGV[9]) else redis.call('HDEL', KEYS[1], 'error') end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'config', ARGV[10])
  if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'solver', ARGV[11]) else redis.call('HDEL', KEYS[1], 'solver') end
end
if mode == 'relaunch' and ARGV[12] and ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'tp', ARGV[12]) end
move('queued')
ev('{"state":"queued","attempt":' .. attempt .. '}')
return {1, tostring(attempt), 'queued'}
