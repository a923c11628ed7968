-- inst_pin: adds ARGV[1] (1 or -1) to the "pinned" count of each existing
-- instance hash in KEYS: how many instance sets hold it. The retention
-- sweep keeps a pinned instance.
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('HINCRBY', KEYS[i], 'pinned', ARGV[1]) <= 0 then redis.call('HDEL', KEYS[i], 'pinned') end
  end
end
return 1
