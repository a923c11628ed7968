-- delete: remove a terminal execution with its data and index entries.
-- KEYS[1] meta, KEYS[2..6] data keys, KEYS[7..] index zsets. ARGV[1] id.
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
if st == 'queued' or st == 'running' then return st end
for i = 1, 6 do redis.call('DEL', KEYS[i]) end
for i = 7, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 'deleted'
