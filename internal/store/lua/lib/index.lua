-- Index helpers (key names as keys.go builds them). Every index is a sorted
-- set of execution ids scored by creation time (ms). An execution is in
-- sj:<state>:<job type>, and when it has an owner in os:<state>:<owner>:
-- these follow its state (ix_move). oj:<job type>:<owner>,
-- inst:<instance> and one md:<n>:<key>=<value> per metadata label do not
-- depend on the state; create writes them, delete removes them (ix_all).
-- p is the store's prefix, read from a key name ix:st:<state> the script is
-- given (the name of 0.1.0's state index; nothing is written there now).
local function ix_prefix(k)
  return string.match(k, '^(.*):ix:st:[%a_]+$')
end
local function ix_state_keys(p, st, jt, own)
  local t = {p .. ':ix:sj:' .. st .. ':' .. (jt or '')}
  if own and own ~= '' then t[2] = p .. ':ix:os:' .. st .. ':' .. own end
  return t
end
local function ix_move(p, id, score, from, to, jt, own)
  if from == to then return end
  for _, k in ipairs(ix_state_keys(p, from, jt, own)) do redis.call('ZREM', k, id) end
  for _, k in ipairs(ix_state_keys(p, to, jt, own)) do redis.call('ZADD', k, score, id) end
end
local function ix_labels(p, md)
  local t = {}
  if md and md ~= '' then
    local ok, m = pcall(cjson.decode, md)
    if ok and type(m) == 'table' then
      for k, v in pairs(m) do
        if type(v) == 'string' then t[#t + 1] = p .. ':ix:md:' .. #k .. ':' .. k .. '=' .. v end
      end
    end
  end
  return t
end
-- ix_tags: the index keys of the tags csv (joined by ','), each the
-- prefix ix (p .. ':ix:tag:' for executions, p .. ':ix:i:tag:' for
-- instances) and the tag.
local function ix_tags(ix, csv)
  local t = {}
  if csv and csv ~= '' then
    for tag in string.gmatch(csv, '[^,]+') do t[#t + 1] = ix .. tag end
  end
  return t
end
-- ix_all: every index key of a record in state st (r: job_type, owner,
-- instance_id, metadata, tags), and those of the layout of 0.1.0 (ix:all, ix:st:,
-- ix:jt:, ix:own:), so that deleting an old record leaves nothing behind.
local function ix_all(p, st, r)
  local t = ix_state_keys(p, st, r[1], r[2])
  t[#t + 1] = p .. ':ix:all'
  t[#t + 1] = p .. ':ix:st:' .. st
  t[#t + 1] = p .. ':ix:jt:' .. (r[1] or '')
  if r[2] and r[2] ~= '' then
    t[#t + 1] = p .. ':ix:oj:' .. (r[1] or '') .. ':' .. r[2]
    t[#t + 1] = p .. ':ix:own:' .. r[2]
  end
  if r[3] and r[3] ~= '' then t[#t + 1] = p .. ':ix:inst:' .. r[3] end
  for _, k in ipairs(ix_labels(p, r[4])) do t[#t + 1] = k end
  for _, k in ipairs(ix_tags(p .. ':ix:tag:', r[5])) do t[#t + 1] = k end
  return t
end
