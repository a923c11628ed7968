-- finish: running → terminal, once. The state, solution and verdict are written
-- in one step; a late finish from an attempt that is no longer current is ignored.
-- KEYS[1] meta, KEYS[2] solution, KEYS[3] incumbent, KEYS[4] events, KEYS[5] ix running,
-- KEYS[6] ix final state.
-- ARGV[1] id, ARGV[2] attempt, ARGV[3] final state, ARGV[4] now ms, ARGV[5] has solution
-- ("1"/"0"), ARGV[6] solution, ARGV[7] events maxlen, ARGV[8] done channel,
-- ARGV[9] event json, ARGV[10] "1" when an incumbent may exist (deleted),
-- ARGV[11] the queue task's id or "" (below), ARGV[12] its day counter's expiry
-- (unix s), ARGV[13..] field/value pairs. The status event is written only when
-- the event stream exists (the record's ev flag, lib/events).
-- With a task id, the attempt's asynq task is completed here as asynq's done
-- script does it (asynq v0.26: KEYS[7] active list, KEYS[8] lease zset, KEYS[9]
-- task hash, KEYS[10] processed counter of the day, KEYS[11] processed total,
-- which wraps to 1 past the largest integer), if it is still active.
-- Returns 0 when ignored, 1 when finished, 2 when finished and the task completed.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'created_at', 'ev')
if st[1] ~= 'running' or st[2] ~= ARGV[2] then return 0 end
if ARGV[5] == '1' then
  redis.call('SET', KEYS[2], ARGV[6])
end
if ARGV[10] == '1' then redis.call('DEL', KEYS[3]) end
local fields = {'state', ARGV[3], 'finished_at', ARGV[4], 'has_solution', ARGV[5], 'heartbeat', ''}
for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[6], st[3], ARGV[1])
if st[4] == '1' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'type', 'status', 'data', ARGV[9])
end
redis.call('PUBLISH', ARGV[8], ARGV[1])
if ARGV[11] ~= '' and redis.call('LREM', KEYS[7], 0, ARGV[11]) > 0 then
  redis.call('ZREM', KEYS[8], ARGV[11])
  redis.call('DEL', KEYS[9])
  if redis.call('INCR', KEYS[10]) == 1 then redis.call('EXPIREAT', KEYS[10], ARGV[12]) end
  local total = redis.pcall('INCR', KEYS[11])
  if type(total) == 'table' and total.err then redis.call('SET', KEYS[11], 1) end
  return 2
end
return 1
