-- merge: the union of the sorted sets KEYS (execution ids scored by
-- creation time), newest first (score, then id, descending), as a k-way
-- merge that reads each set a few entries at a time, so that a page costs
-- O(k log n + offset + count) whatever the sets hold, and only the page
-- travels back.
-- ARGV[1] max score (inclusive; '+inf' or ms), ARGV[2] min ('-inf' or ms),
-- ARGV[3] cursor id or '': entries at score ARGV[1] whose id is not below
-- it come before the cursor and are skipped, ARGV[4] offset, ARGV[5]
-- count, ARGV[6] '1' to count the matches in the window ARGV[7]..ARGV[8]
-- (without the cursor: ZCOUNT, and with a check below the records checked
-- when they are at most ARGV[10], else -1), ARGV[9] the records' key prefix ('' none),
-- ARGV[10] a scan budget, ARGV[11..] field, value pairs the records must
-- hold (a field "md:<key>" names a metadata label): a filter the sets do
-- not cover. Each entry is then checked (HMGET) and at most ARGV[10]
-- entries are examined; when the budget runs out first, the position of
-- the last one examined comes back, to continue from.
-- Returns {total or -1, stop id or '', stop score or '', id, score, id,
-- score, ..., then the records (ARGV[9])}.
local k = #KEYS
local skip, want = tonumber(ARGV[4]), tonumber(ARGV[5])
local chunk = math.max(4, math.ceil((skip + want) / math.max(k, 1)) + 1)
local top = tonumber(ARGV[1])
local maxArg = ARGV[1]
local buf, at, off, done = {}, {}, {}, {}
-- lt compares ids byte by byte (Lua's < follows the locale).
local function lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function fill(i)
  local r = redis.call('ZREVRANGEBYSCORE', KEYS[i], maxArg, ARGV[2], 'WITHSCORES', 'LIMIT', off[i], chunk)
  off[i] = off[i] + #r / 2
  buf[i], at[i] = r, 1
  if #r / 2 < chunk then done[i] = true end
end
-- head returns set i's next id and score, or nil when it has none.
local function head(i)
  while true do
    if at[i] > #buf[i] then
      if done[i] then return nil end
      fill(i)
      if #buf[i] == 0 then return nil end
    end
    local m, s = buf[i][at[i]], tonumber(buf[i][at[i] + 1])
    if ARGV[3] ~= '' and s == top and not lt(m, ARGV[3]) then
      at[i] = at[i] + 2
    else
      return m, s
    end
  end
end
-- The filter the sets do not cover.
local budget = tonumber(ARGV[10] or '0') or 0
local checks, labels, hfields, hasLabels = {}, {}, {}, false
-- A field "tag" names a tag the record's tags (joined by ',') must hold.
local tags = {}
for i = 11, #ARGV - 1, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if string.sub(f, 1, 3) == 'md:' then
    labels[string.sub(f, 4)], hasLabels = v, true
  elseif f == 'tag' then
    tags[#tags + 1] = v
  else
    checks[#checks + 1] = v
    hfields[#hfields + 1] = f
  end
end
if hasLabels then hfields[#hfields + 1] = 'metadata' end
local tagsAt = 0
if #tags > 0 then
  hfields[#hfields + 1] = 'tags'
  tagsAt = #hfields
end
local function matches(id)
  local v = redis.call('HMGET', ARGV[9] .. id, unpack(hfields))
  for i, want in ipairs(checks) do
    if v[i] ~= want then return false end
  end
  if tagsAt > 0 then
    local have = ',' .. (v[tagsAt] or '') .. ','
    for _, t in ipairs(tags) do
      if not string.find(have, ',' .. t .. ',', 1, true) then return false end
    end
  end
  if hasLabels then
    local m = v[#checks + 1]
    if not m then return false end
    local ok, t = pcall(cjson.decode, m)
    if not ok or type(t) ~= 'table' then return false end
    for key, want in pairs(labels) do
      if t[key] ~= want then return false end
    end
  end
  return true
end
-- One set, no cursor, no check: Redis skips the offset itself.
if k == 1 and ARGV[3] == '' and budget == 0 and skip > 0 then
  off[1], chunk = skip, want
  skip = 0
end
-- Several sets, an offset, no cursor, no check: find the score of the
-- first entry past the offset by bisection on the sets' ZCOUNTs (k
-- O(log n) counts a step), so that the merge itself skips only the entries
-- that share that score.
if k > 1 and ARGV[3] == '' and budget == 0 and skip > 0 then
  local function newer(s)
    local n = 0
    for i = 1, k do n = n + redis.call('ZCOUNT', KEYS[i], '(' .. string.format('%d', s), maxArg) end
    return n
  end
  local lo, hi
  for i = 1, k do
    local a = redis.call('ZREVRANGEBYSCORE', KEYS[i], maxArg, ARGV[2], 'WITHSCORES', 'LIMIT', 0, 1)
    local b = redis.call('ZRANGEBYSCORE', KEYS[i], ARGV[2], maxArg, 'WITHSCORES', 'LIMIT', 0, 1)
    if a[2] then
      local v = tonumber(a[2])
      if not hi or v > hi then hi = v end
    end
    if b[2] then
      local v = tonumber(b[2])
      if not lo or v < lo then lo = v end
    end
  end
  if lo then
    -- the smallest score s with at most skip entries newer than s
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if newer(mid) <= skip then hi = mid else lo = mid + 1 end
    end
    skip = skip - newer(lo)
    maxArg = string.format('%d', lo)
    chunk = math.max(4, math.ceil((skip + want) / k) + 1)
  end
end
for i = 1, k do
  off[i] = off[i] or 0
  fill(i)
end
local out = {-1, '', ''}
if ARGV[6] == '1' then
  local total = 0
  for i = 1, k do total = total + redis.call('ZCOUNT', KEYS[i], ARGV[7], ARGV[8]) end
  if budget > 0 then
    -- With a check, the total is the matches among the candidates: counted
    -- when they are no more than the budget, else unknown (-1).
    if total > budget then
      total = -1
    else
      total = 0
      for i = 1, k do
        for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[i], ARGV[8], ARGV[7])) do
          if matches(id) then total = total + 1 end
        end
      end
    end
  end
  out[1] = total
end
-- The current head of each set, and a binary heap of the sets that have
-- one, the newest head on top.
local hm, hs, heap = {}, {}, {}
local function above(i, j)
  return hs[i] > hs[j] or (hs[i] == hs[j] and lt(hm[j], hm[i]))
end
local function up(n)
  while n > 1 do
    local p = math.floor(n / 2)
    if not above(heap[n], heap[p]) then return end
    heap[n], heap[p] = heap[p], heap[n]
    n = p
  end
end
local function down(n)
  local size = #heap
  while true do
    local l, r, m = 2 * n, 2 * n + 1, n
    if l <= size and above(heap[l], heap[m]) then m = l end
    if r <= size and above(heap[r], heap[m]) then m = r end
    if m == n then return end
    heap[n], heap[m] = heap[m], heap[n]
    n = m
  end
end
for i = 1, k do
  hm[i], hs[i] = head(i)
  if hs[i] then
    heap[#heap + 1] = i
    up(#heap)
  end
end
local taken, page, examined = 0, {}, 0
while taken < skip + want do
  local best = heap[1]
  if not best then break end
  local id, score = hm[best], buf[best][at[best] + 1]
  local ok = true
  if budget > 0 then
    if examined >= budget then break end
    examined = examined + 1
    ok = matches(id)
    out[2], out[3] = id, score
  end
  if ok then
    taken = taken + 1
    if taken > skip then
      out[#out + 1] = id
      out[#out + 1] = score
      page[#page + 1] = id
    end
  end
  at[best] = at[best] + 2
  hm[best], hs[best] = head(best)
  if not hs[best] then
    heap[1] = heap[#heap]
    heap[#heap] = nil
  end
  if #heap > 0 then down(1) end
end
-- The stop position matters only when the budget ended the scan.
if budget == 0 or examined < budget or taken >= skip + want then out[2], out[3] = '', '' end
-- With ARGV[9] (the records' key prefix), the records of the page's first
-- count - 1 entries (the last one only says whether more follow) come
-- after them, one HGETALL reply each, so that a listing is one round trip.
if ARGV[9] and ARGV[9] ~= '' then
  for i = 1, math.min(#page, want - 1) do out[#out + 1] = redis.call('HGETALL', ARGV[9] .. page[i]) end
end
return out
