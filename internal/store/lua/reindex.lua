-- reindex: write the index entries of one record as create and the state
-- changes keep them (lib/index), for records written by 0.1.0, whose
-- indexes were one set per dimension. Idempotent; atomic per record, so a
-- state change at the same time cannot leave an entry behind.
-- KEYS[1] meta, KEYS[2] a state index key (for the prefix), KEYS[3] the
-- set of job types. ARGV[1] id. Returns 1 when indexed, 0 when missing.
local r = redis.call('HMGET', KEYS[1], 'state', 'job_type', 'owner', 'instance_id', 'metadata', 'created_at')
if not r[1] then return 0 end
local p = ix_prefix(KEYS[2])
local score = r[6] or '0'
redis.call('SADD', KEYS[3], r[2] or '')
local keys = ix_state_keys(p, r[1], r[2], r[3])
if r[3] and r[3] ~= '' then keys[#keys + 1] = p .. ':ix:oj:' .. (r[2] or '') .. ':' .. r[3] end
if r[4] and r[4] ~= '' then keys[#keys + 1] = p .. ':ix:inst:' .. r[4] end
for _, k in ipairs(ix_labels(p, r[5])) do keys[#keys + 1] = k end
for _, k in ipairs(keys) do redis.call('ZADD', k, score, ARGV[1]) end
return 1
