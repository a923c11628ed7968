-- exp_submitted: records that an experiment's cell ARGV[1] was submitted:
-- it joins the open cells and the next cell moves on past it, when it was
-- the next one and the experiment still runs.
-- KEYS[1] experiment hash, KEYS[2] set of open cells.
-- Returns 1 when recorded, 0 otherwise.
local st = redis.call('HMGET', KEYS[1], 'state', 'next')
if st[1] ~= 'running' or st[2] ~= ARGV[1] then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'next', tonumber(ARGV[1]) + 1)
return 1
