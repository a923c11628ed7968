-- create_many: create.lua's step for several executions in one script, all
-- or none. ARGV[1] is the count n, ARGV[2i] and ARGV[2i+1] the number of
-- keys and arguments of item i; KEYS holds the items' keys one item after
-- the other, and ARGV from 2n+2 on their arguments, each item's as
-- create.lua takes them (K and A below).
-- What items share is written once: the job types set, asynq's queues set,
-- each index gets one ZADD of all its new members and each pending list
-- one LPUSH (in the items' order, as one LPUSH each would), so that a
-- batch costs about two commands per execution (its record, its task)
-- instead of eight.
-- Returns 0 when all were written; -1 when every record exists already
-- (nothing written: an earlier send of this call wrote them); i > 0 when
-- item i's record exists but not all do (nothing written: a conflict).
local n = tonumber(ARGV[1])
-- Item i's keys are KEYS[ko[i] + 1 .. ko[i] + nk[i]], its arguments
-- ARGV[ao[i] + 1 .. ao[i] + na[i]] (read in place: no copies).
local ko, ao, nk, metas = {}, {}, {}, {}
local kpos, apos = 0, 2 * n + 1
for i = 1, n do
  nk[i] = tonumber(ARGV[2 * i])
  ko[i], ao[i] = kpos, apos
  metas[i] = KEYS[kpos + 1]
  kpos, apos = kpos + nk[i], apos + tonumber(ARGV[2 * i + 1])
end
local found = redis.call('EXISTS', unpack(metas))
if found > 0 then
  -- Nothing is written: drop the large inputs SET for this call.
  for i = 1, n do
    if string.find(ARGV[ao[i] + 5], 'x', 1, true) then redis.call('DEL', ARGV[ao[i] + 2]) end
  end
end
if found == n then return -1 end
if found > 0 then
  for i = 1, n do
    if redis.call('EXISTS', metas[i]) == 1 then return i end
  end
end
local lists, order = {}, {}
local function list(cmd, k)
  local l = lists[k]
  if not l then
    l = {}
    lists[k] = l
    order[#order + 1] = {cmd, k}
  end
  return l
end
local function add(cmd, k, v)
  local l = list(cmd, k)
  l[#l + 1] = v
end
local function add2(cmd, k, score, v)
  local l = list(cmd, k)
  l[#l + 1] = score
  l[#l + 1] = v
end
-- create_one's set and sorted-set writes, gathered.
local function sadd(k, v) add('SADD', k, v) end
local function zadd(k, score, v) add2('ZADD', k, score, v) end
for i = 1, n do
  local k0, a0 = ko[i], ao[i]
  local task = create_one(k0, a0, nk[i], ao[i + 1] or apos, sadd, zadd)
  if task then
    if ARGV[a0 + 3] == '1' then add('SADD', KEYS[k0 + 5], ARGV[a0 + 8]) end
    redis.call('HSET', KEYS[k0 + 3], 'msg', ARGV[a0 + 7], 'state', 'pending', 'pending_since', ARGV[a0 + 9])
    add('LPUSH', KEYS[k0 + 4], ARGV[a0 + 6])
  end
end
for _, o in ipairs(order) do
  local l = lists[o[2]]
  -- unpack takes a few thousand values at most: send long lists in parts.
  for s = 1, #l, 4000 do
    redis.call(o[1], o[2], unpack(l, s, math.min(s + 3999, #l)))
  end
end
return 0
