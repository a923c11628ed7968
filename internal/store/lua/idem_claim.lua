-- idem_claim: claim an idempotency key for a new execution, or tell who has it.
-- KEYS[1] the key's claim. ARGV[1] the claim ("<id> <fingerprint> <ms>"),
-- ARGV[2] how long it lasts (ms), ARGV[3] a claim to replace even if present
-- ("" for none): a stale claim whose execution was never created.
-- Returns false when claimed, else the claim that holds the key.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[3] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
