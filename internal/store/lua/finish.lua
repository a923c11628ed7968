-- finish: running → terminal, once. The state, solution and verdict are written
-- in one step; a late finish from an attempt that is no longer current is ignored.
-- A cancel accepted while the attempt ran (the record's cancel flag) wins over
-- whatever the attempt reports: the execution ends stopped, with the solution
-- the attempt returned, else its last incumbent.
-- KEYS[1] meta, KEYS[2] solution, KEYS[3] incumbent, KEYS[4] events, KEYS[5] ix running,
-- KEYS[6] ix final state, KEYS[7] ix stopped (the indexes move with lib/index's
-- ix_move, which also moves the composite ones).
-- ARGV[1] id, ARGV[2] attempt, ARGV[3] final state, ARGV[4] now ms, ARGV[5] has solution
-- ("1"/"0"), ARGV[6] solution, ARGV[7] events maxlen, ARGV[8] done channel,
-- ARGV[9] event json, ARGV[10] "1" when an incumbent may exist (deleted),
-- ARGV[11] the queue task's id or "" (below), ARGV[12] its day counter's expiry
-- (unix s), ARGV[13] "solver_status", ARGV[14] the solver status, ARGV[15..] more
-- field/value pairs. The status event is written only when the event stream
-- exists (the record's ev flag, lib/events).
-- With a task id, the attempt's asynq task is completed here as asynq's done
-- script does it (asynq v0.26: KEYS[8] active list, KEYS[9] lease zset, KEYS[10]
-- task hash, KEYS[11] processed counter of the day, KEYS[12] processed total,
-- which wraps to 1 past the largest integer), if it is still active. A task
-- whose hash is gone counts as completed too (asynq's done would fail on it).
-- A record with a result_url (cb_url, read with the fields above) gets its
-- callback scheduled (lib/callbacks' cb_due).
-- Returns 0 when ignored, 1 when finished, 2 when finished and the task
-- completed, 3 when ignored and the task gone.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at', 'ev', 'cancel', 'job_type', 'owner', 'cb_url')
if st[1] ~= 'running' or st[2] ~= ARGV[2] then
  -- Ignored. A task that is gone was completed by an earlier send of this
  -- same finish (its reply lost, the call sent again): say so, as asynq's
  -- done would fail on it.
  if ARGV[11] ~= '' and redis.call('EXISTS', KEYS[10]) == 0 then return 3 end
  return 0
end
local final, has, status, evt = ARGV[3], ARGV[5], ARGV[14], ARGV[9]
local delInc = ARGV[10] == '1'
if st[5] == '1' and final ~= 'stopped' then
  -- Stopped on request: keep the verdict on a returned solution; without
  -- one, the last incumbent is the solution.
  final = 'stopped'
  if has ~= '1' then
    if redis.call('EXISTS', KEYS[3]) == 1 then
      redis.call('RENAME', KEYS[3], KEYS[2])
      has, delInc = '1', false
      status = 'feasible'
    else
      status = 'not_solved'
    end
  end
  evt = '{"state":"stopped","attempt":' .. ARGV[2] .. ',"solver_status":' .. cjson.encode(status) .. '}'
end
if ARGV[5] == '1' then
  redis.call('SET', KEYS[2], ARGV[6])
end
if delInc then redis.call('DEL', KEYS[3]) end
local fields = {'state', final, 'finished_at', ARGV[4], 'has_solution', has, 'heartbeat', '',
  'solver_status', status}
for i = 15, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
ix_move(ix_prefix(KEYS[5]), ARGV[1], st[3], 'running', final, st[6], st[7])
if st[8] then cb_due(ix_prefix(KEYS[5]), KEYS[1], ARGV[1], ARGV[4]) end
if st[4] == '1' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'type', 'status', 'data', evt)
end
redis.call('PUBLISH', ARGV[8], ARGV[1])
if ARGV[11] ~= '' and redis.call('LREM', KEYS[8], 0, ARGV[11]) > 0 then
  redis.call('ZREM', KEYS[9], ARGV[11])
  redis.call('DEL', KEYS[10])
  if redis.call('INCR', KEYS[11]) == 1 then redis.call('EXPIREAT', KEYS[11], ARGV[12]) end
  local total = redis.pcall('INCR', KEYS[12])
  if type(total) == 'table' and total.err then redis.call('SET', KEYS[12], 1) end
  return 2
end
if ARGV[11] ~= '' and redis.call('EXISTS', KEYS[10]) == 0 then return 2 end
return 1
