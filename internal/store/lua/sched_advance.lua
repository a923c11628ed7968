-- sched_advance: move a periodic schedule's next run from the tick a process
-- handled to the following one, only if no other process (or an update)
-- moved it first. KEYS[1] schedule hash, KEYS[2] set of next runs.
-- ARGV[1] schedule id, ARGV[2] the next run handled (ms), ARGV[3] the new
-- next run (ms, "" for none), ARGV[4] last run (ms, "" when the tick did not
-- fire), ARGV[5] last execution id, ARGV[6] last error ("" for none).
-- Returns 1 when moved, 0 otherwise.
if redis.call('HGET', KEYS[1], 'next_run') ~= ARGV[2] then return 0 end
sched_next(KEYS[1], KEYS[2], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'last_run', ARGV[4], 'last_execution_id', ARGV[5])
end
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[1], 'last_error')
else
  redis.call('HSET', KEYS[1], 'last_error', ARGV[6])
end
return 1
