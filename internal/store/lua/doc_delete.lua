-- doc_delete: removes document KEYS[1] (id ARGV[1], kind ARGV[2]) from the
-- documents of its kind (KEYS[2]) and from its owner's (KEYS[2] ..
-- ':own:' .. owner, keys.docsOwner); an experiment ("exp") also leaves the
-- active set KEYS[3], with its open cells KEYS[4] and rows KEYS[5].
-- Answers 0 when the document did not exist.
local owner = redis.call('HGET', KEYS[1], 'owner')
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if owner and owner ~= '' then redis.call('ZREM', KEYS[2] .. ':own:' .. owner, ARGV[1]) end
if ARGV[2] == 'exp' then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[4], KEYS[5])
end
return 1
