-- heartbeat: refresh the heartbeat of the executions this worker runs. Returns
-- "c:<id>" for those whose cancel was requested and "g:<id>" for those no longer
-- running that attempt here (taken over, finished or deleted).
-- KEYS[1..] meta hashes. ARGV[1] now ms, ARGV[2] worker, ARGV[3..] id, attempt
-- pairs (in KEYS order).
local out = {}
for i = 1, #KEYS do
  local id, attempt = ARGV[2 * i + 1], ARGV[2 * i + 2]
  local st = redis.call('HMGET', KEYS[i], 'state', 'attempt', 'worker', 'cancel')
  if st[1] == 'running' and st[2] == attempt and st[3] == ARGV[2] then
    redis.call('HSET', KEYS[i], 'heartbeat', ARGV[1])
    if st[4] == '1' then out[#out + 1] = 'c:' .. id end
  else
    out[#out + 1] = 'g:' .. id
  end
end
return out
