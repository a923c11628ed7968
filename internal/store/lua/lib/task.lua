-- write_task: write an asynq task in asynq's layout (queue.NewTask encodes
-- its message): the task hash, pending, and its id pushed on the queue's
-- pending list; the queue's name is added to asynq's set of queue names when
-- publish is "1". lib/create's create_one and sched_promote.lua write tasks
-- this way.
local function write_task(task_key, pending_key, queues_key, publish, task_id, msg, queue, pending_since)
  if publish == '1' then redis.call('SADD', queues_key, queue) end
  redis.call('HSET', task_key, 'msg', msg, 'state', 'pending', 'pending_since', pending_since)
  redis.call('LPUSH', pending_key, task_id)
end
