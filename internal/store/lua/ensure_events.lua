-- ensure_events (readers): create the event stream from the record when it does
-- not exist yet, so that a reader follows one stream whatever happened before.
-- KEYS[1] meta, KEYS[2] events, KEYS[3] log. ARGV[1] events maxlen.
ensure_events(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return redis.call('EXISTS', KEYS[2])
