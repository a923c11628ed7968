-- inst_delete: removes instance KEYS[1] (id ARGV[1]) and its data KEYS[2]
-- and takes it out of the instance indexes KEYS[4..], unless a set pins it
-- (its "pinned" count, inst_pin) or, with ARGV[2] "unused", while a stored
-- execution names it (the executions' index by instance, KEYS[3], exists:
-- delete.lua removes the member, and Redis the emptied key). Answers 1
-- when it deleted, 0 when the instance is missing or used, and minus the
-- pinned count when sets hold it.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == 'unused' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local pinned = tonumber(redis.call('HGET', KEYS[1], 'pinned') or '0')
if pinned > 0 then return -pinned end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
