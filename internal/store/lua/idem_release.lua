-- idem_release: give up an idempotency key's claim if it is still ours (the
-- submit that claimed it stored nothing).
-- KEYS[1] the key's claim. ARGV[1] our claim. Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
