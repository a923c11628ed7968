-- create_one: write one new execution's record, input and index entries,
-- with its keys and arguments laid out as create.lua takes them:
-- KEYS[k0 + 1 .. k0 + nk] and ARGV[a0 + 1 .. alast]. Set members and
-- sorted-set entries go through sadd(key, member) and zadd(key, score,
-- member), so that create_many can gather them into one command a key.
-- Flags (ARGV[a0 + 5]): "x" a large input SET before the script under
-- ARGV[a0 + 2], renamed here to the input key; "i" the input is a field of
-- the record; "d" the last key is the due set (score ARGV[a0 + 6]);
-- "g<n>" the n tag indexes end the index keys, and the set of known tags
-- follows them. Returns true when flag "t" asks for a task (the caller
-- writes it: KEYS[k0 + 3 .. k0 + 5]).
local function create_one(k0, a0, nk, alast, sadd, zadd)
  local flags, id = ARGV[a0 + 5], ARGV[a0 + 4]
  local task = string.find(flags, 't', 1, true) ~= nil
  local ix = 3
  if task then ix = 6 end
  redis.call('HSET', KEYS[k0 + 1], unpack(ARGV, a0 + 10, alast))
  if string.find(flags, 'x', 1, true) then
    redis.call('RENAME', ARGV[a0 + 2], KEYS[k0 + 2])
    redis.call('PERSIST', KEYS[k0 + 2])
  elseif string.find(flags, 'i', 1, true) == nil then
    redis.call('SET', KEYS[k0 + 2], ARGV[a0 + 2])
  end
  sadd(KEYS[k0 + ix], ARGV[a0 + 11])
  local last = nk
  if string.find(flags, 'd', 1, true) ~= nil then
    zadd(KEYS[k0 + last], ARGV[a0 + 6], id)
    last = last - 1
  end
  local ntags = tonumber(string.match(flags, 'g(%d+)') or '0')
  if ntags > 0 then
    local known = KEYS[k0 + last]
    last = last - 1
    local tp = string.sub(known, 1, #known - 1) .. ':'
    for j = last - ntags + 1, last do zadd(known, 0, string.sub(KEYS[k0 + j], #tp + 1)) end
  end
  for j = ix + 1, last do zadd(KEYS[k0 + j], ARGV[a0 + 1], id) end
  return task
end
