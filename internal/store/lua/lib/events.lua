-- ensure_events: an execution's event stream is created lazily. The plain life
-- of attempt 1 (queued → running → terminal) is fully described by the record,
-- so create, start and finish write a status event only when the stream exists;
-- a stream per execution costs a 4 KiB listpack on Redis 7, the largest single
-- cost of a short job. Whoever first needs the stream (a reader, a progress or
-- incumbent report, a requeue, a cancel) calls ensure_events, which writes the
-- history the record implies, with deterministic ids built from the record's
-- times, then carries on; from then on every transition appends as usual.
-- The running event is placed no later than the first log record, so that a
-- reader interleaving the log and event streams by id sees it first.
-- The record's field ev = "1" says the stream exists: start and finish read it
-- with the fields they read anyway instead of asking Redis for the key.
local function ensure_events(meta, ev, logkey, maxlen)
  if redis.call('EXISTS', ev) == 1 then return end
  local r = redis.call('HMGET', meta, 'kind', 'state', 'attempt', 'created_at', 'started_at',
    'finished_at', 'worker', 'solver_status')
  if not r[2] then return end
  redis.call('HSET', meta, 'ev', '1')
  local t, seq = tonumber(r[4]) or 1, 0
  if t < 1 then t = 1 end
  local function add(ms, data)
    if ms and ms > t then t = ms end
    seq = seq + 1
    redis.call('XADD', ev, 'MAXLEN', '~', maxlen, t .. '-' .. seq, 'type', 'status', 'data', data)
  end
  local attempt = r[3] or '1'
  local started = tonumber(r[5] or '')
  if r[1] == 'sync' then
    add(nil, '{"state":"running","attempt":' .. attempt .. '}')
  else
    add(nil, '{"state":"queued","attempt":' .. attempt .. '}')
    if started then
      local first = redis.call('XRANGE', logkey, '-', '+', 'COUNT', 1)[1]
      if first then
        local lms = tonumber(string.match(first[1], '^(%d+)'))
        if lms and lms < started then started = lms end
      end
      add(started, '{"state":"running","attempt":' .. attempt .. ',"worker":' .. cjson.encode(r[7] or '') .. '}')
    end
  end
  local st = r[2]
  if st == 'succeeded' or st == 'failed' or st == 'stopped' or st == 'timed_out' then
    add(tonumber(r[6] or ''), '{"state":"' .. st .. '","attempt":' .. attempt .. ',"solver_status":' ..
      cjson.encode(r[8] or '') .. '}')
  end
end
