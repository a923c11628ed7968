-- cb_due: a record with a result_url (field cb_url) that reaches a terminal
-- state gets its callback delivery scheduled, in the same script as the
-- state change: the execution's id enters the due set p:cb:due scored by
-- the time it is due (ms), and the record says the delivery is pending.
-- Each terminal state starts a new delivery (cb_n counts its attempts,
-- cb_first is when it became due, for the maximum age).
local function cb_due(p, meta, id, now)
  redis.call('HSET', meta, 'cb_state', 'pending', 'cb_first', now, 'cb_n', '0')
  redis.call('ZADD', p .. ':cb:due', now, id)
end
