-- sched_promote: move a scheduled execution that is due to queued, and (flag
-- "t" in ARGV[2]) write its asynq task in the same step, as create.lua does
-- for an execution queued at once. Several processes may promote the same id
-- at once: only the one that finds it scheduled moves it.
-- KEYS[1] meta hash, KEYS[2] due set, KEYS[3] a state index key (for the
-- prefix; lib/index), then with a task: KEYS[4] task hash, KEYS[5] pending
-- list, KEYS[6] asynq queues set.
-- ARGV[1] id, ARGV[2] flags, ARGV[3] "1" to add the queue to asynq's set of
-- queues, ARGV[4] task id, ARGV[5] task message, ARGV[6] queue name, ARGV[7]
-- pending since (unix ns).
-- Returns 1 when moved, 0 when the execution is gone or no longer scheduled
-- (cancelled, or promoted by another process).
local st = redis.call('HMGET', KEYS[1], 'state', 'created_at', 'job_type', 'owner')
redis.call('ZREM', KEYS[2], ARGV[1])
if st[1] ~= 'scheduled' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued')
ix_move(ix_prefix(KEYS[3]), ARGV[1], st[2], 'scheduled', 'queued', st[3], st[4])
if string.find(ARGV[2], 't', 1, true) ~= nil then
  write_task(KEYS[4], KEYS[5], KEYS[6], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
end
return 1
