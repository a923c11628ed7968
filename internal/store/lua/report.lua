-- report: progress or incumbent from a running attempt; ignored otherwise.
-- KEYS[1] meta, KEYS[2] events, KEYS[3] incumbent key, KEYS[4] log stream.
-- ARGV[1] attempt, ARGV[2] events maxlen, ARGV[3] event type, ARGV[4] event json,
-- ARGV[5] incumbent bytes ('' for progress), ARGV[6..] field/value pairs.
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt')
if st[1] ~= 'running' or st[2] ~= ARGV[1] then return 0 end
ensure_events(KEYS[1], KEYS[2], KEYS[4], ARGV[2])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5]) end
if #ARGV >= 6 then
  local fields = {}
  for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', ARGV[3], 'data', ARGV[4])
return 1
