-- labels: set an execution's name and/or metadata when the record exists,
-- moving its metadata label index entries (lib/index) with the metadata.
-- KEYS[1] meta, KEYS[2] a state index key (for the prefix). ARGV[1] id,
-- ARGV[2] the new metadata json or '' to keep it, ARGV[3..] field/value pairs.
local r = redis.call('HMGET', KEYS[1], 'state', 'created_at', 'metadata')
if not r[1] then return 0 end
if ARGV[2] ~= '' then
  local p = ix_prefix(KEYS[2])
  for _, k in ipairs(ix_labels(p, r[3])) do redis.call('ZREM', k, ARGV[1]) end
  for _, k in ipairs(ix_labels(p, ARGV[2])) do redis.call('ZADD', k, r[2], ARGV[1]) end
  redis.call('HSET', KEYS[1], 'metadata', ARGV[2])
end
if #ARGV >= 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return 1
