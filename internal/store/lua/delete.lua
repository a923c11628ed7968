-- delete: remove a terminal execution with its data and index entries.
-- KEYS[1] meta, KEYS[2..6] data keys, KEYS[7] a state index key (for the
-- prefix; lib/index), KEYS[8] its callback attempts, KEYS[9] the callback due
-- set. ARGV[1] id.
local r = redis.call('HMGET', KEYS[1], 'state', 'job_type', 'owner', 'instance_id', 'metadata', 'tags')
local st = r[1]
if not st then return 'missing' end
if st == 'queued' or st == 'running' or st == 'scheduled' then return st end
for i = 1, 6 do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[8])
redis.call('ZREM', KEYS[9], ARGV[1])
for _, k in ipairs(ix_all(ix_prefix(KEYS[7]), st, {r[2], r[3], r[4], r[5], r[6]})) do
  redis.call('ZREM', k, ARGV[1])
end
return 'deleted'
