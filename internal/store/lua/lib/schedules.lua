-- sched_next: set schedule id's next run (ms; "" for none) in its hash and
-- in the set of next runs.
local function sched_next(hash, runs, id, next_run)
  if next_run == '' then
    redis.call('HDEL', hash, 'next_run')
    redis.call('ZREM', runs, id)
  else
    redis.call('HSET', hash, 'next_run', next_run)
    redis.call('ZADD', runs, next_run, id)
  end
end
