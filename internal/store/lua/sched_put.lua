-- sched_put: create (ARGV[5] "c") or update (ARGV[5] "u") a periodic
-- schedule's definition and next run. A create of an id that exists, or an
-- update of one that does not, writes nothing.
-- KEYS[1] schedule hash, KEYS[2] set of all schedules (by creation time),
-- KEYS[3] set of next runs.
-- ARGV[1] id, ARGV[2] definition (JSON), ARGV[3] next run (ms, "" for none:
-- disabled), ARGV[4] created ms, ARGV[5] mode, ARGV[6] "1" to keep the stored
-- next run (an update that changes no timing).
-- Returns 1 when written, 0 otherwise.
local exists = redis.call('EXISTS', KEYS[1]) == 1
if (ARGV[5] == 'c') == exists then return 0 end
if ARGV[5] == 'c' then
  redis.call('HSET', KEYS[1], 'created_at', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
redis.call('HSET', KEYS[1], 'def', ARGV[2])
if ARGV[6] == '1' and redis.call('HEXISTS', KEYS[1], 'next_run') == 1 then return 1 end
sched_next(KEYS[1], KEYS[3], ARGV[1], ARGV[3])
return 1
