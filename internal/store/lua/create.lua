-- create: write a new execution record, its input and its index entries, and
-- (flag "t" in ARGV[5]) its asynq task in the same step, so that a record never
-- exists without its task nor a task without its record. The task's id derives
-- from the new record's id, so a free record id means a free task id. No event
-- is written: the record is the history until the stream is needed (lib/events).
-- KEYS[1] meta hash, KEYS[2] input, then when a task is written: KEYS[3] task
-- hash, KEYS[4] pending list, KEYS[5] asynq queues set; then the set of job
-- types that have executions (ARGV[11], the job type, is added), then the
-- index zsets (scored by creation time; keys.go and lib/index name them),
-- the tags' last, then (flag "g") the set of known tags.
-- ARGV[1] created ms, ARGV[2] input bytes, ARGV[3] "1" to add the queue to
-- asynq's set of queues (once per queue and process, as asynq's own client
-- does), ARGV[4] id, ARGV[5] flags: "t" with a task, "i" when the input is
-- small and is the record's field "in" (ARGV[10..]) instead of KEYS[2]: a
-- key less per execution; "x" when the input is large: it was SET before
-- the script under the key ARGV[2] names (with a TTL), which this step
-- renames to KEYS[2], or deletes when the record exists (store's bigInput); ARGV[6] task id,
-- ARGV[7] task message, ARGV[8] queue name, ARGV[9] pending since (unix ns),
-- ARGV[10..] field/value pairs, job_type first.
-- Flag "d" (a scheduled execution, never with "t"): the last key is the set of
-- due executions, where the id is added with score ARGV[6] (its run time, ms).
-- Flag "g<n>": the execution has n tags; the last n index keys are their
-- indexes and the key after them the set of known tag names, which they join.
-- Returns 1 when written, 0 when the record exists.
local upload = string.find(ARGV[5], 'x', 1, true) ~= nil
if redis.call('EXISTS', KEYS[1]) == 1 then
  if upload then redis.call('DEL', ARGV[2]) end
  return 0
end
local function sadd(k, v) redis.call('SADD', k, v) end
local function zadd(k, score, v) redis.call('ZADD', k, score, v) end
if create_one(0, 0, #KEYS, #ARGV, sadd, zadd) then
  write_task(KEYS[3], KEYS[4], KEYS[5], ARGV[3], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
end
return 1
