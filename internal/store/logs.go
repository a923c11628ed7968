package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// LogRecord is one stored log record of an execution (see job.LogRecord).
type LogRecord = job.LogRecord

// AppendLogs stores log records of an execution in one round trip.
func (s *Store) AppendLogs(ctx context.Context, id string, recs []LogRecord) error {
	if len(recs) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, r := range recs {
		vals := []any{"t", r.Time.UnixMicro(), "l", r.Level, "m", r.Message, "n", r.Attempt}
		if len(r.Attrs) > 0 {
			b, err := json.Marshal(r.Attrs)
			if err != nil {
				b, _ = json.Marshal(map[string]string{"error": err.Error()})
			}
			vals = append(vals, "a", b)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.k.log(id), MaxLen: s.logMax, Approx: true, Values: vals})
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		return fmt.Errorf("store: append logs %s: %w", id, err)
	}
	return nil
}

// Logs returns up to limit log records after the cursor ("" from the
// start), oldest first.
func (s *Store) Logs(ctx context.Context, id, after string, limit int) ([]LogRecord, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	var msgs []redis.XMessage
	err := s.read(ctx, func() (err error) {
		msgs, err = s.rdb.XRangeN(ctx, s.k.log(id), start, "+", int64(limit)).Result()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: logs %s: %w", id, err)
	}
	out := make([]LogRecord, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, logRecord(m))
	}
	return out, nil
}

// LogCount returns how many log records an execution has.
func (s *Store) LogCount(ctx context.Context, id string) (int64, error) {
	return s.rdb.XLen(ctx, s.k.log(id)).Result()
}

func logRecord(m redis.XMessage) LogRecord {
	r := LogRecord{ID: m.ID}
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	if us, err := strconv.ParseInt(str("t"), 10, 64); err == nil {
		r.Time = time.UnixMicro(us).UTC()
	}
	r.Level, r.Message = str("l"), str("m")
	r.Attempt, _ = strconv.Atoi(str("n"))
	if a := str("a"); a != "" {
		_ = json.Unmarshal([]byte(a), &r.Attrs)
	}
	return r
}

// Event is one entry of an execution's event stream (see job.Event).
type Event = job.Event

// Events returns up to limit events after the cursor ("" from the start).
// It creates the stream from the record first when needed (EnsureEvents).
func (s *Store) Events(ctx context.Context, id, after string, limit int) ([]Event, error) {
	if _, err := s.EnsureEvents(ctx, id); err != nil {
		return nil, err
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := s.rdb.XRangeN(ctx, s.k.events(id), start, "+", int64(limit)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, event(m))
	}
	return out, nil
}

func event(m redis.XMessage) Event {
	t, _ := m.Values["type"].(string)
	d, _ := m.Values["data"].(string)
	return Event{ID: m.ID, Type: t, Data: json.RawMessage(d)}
}

// Cursor marks where a Follow reader is in the event and log streams.
type Cursor struct {
	Events, Log string
}

// Follow blocks up to block for new events and log records after the
// cursor and returns them (log records as events of type "log") with the
// advanced cursor. It returns no events when block passes quietly. Each
// call holds one connection while it blocks. Call EnsureEvents once before
// following an execution: its stream may not exist yet.
func (s *Store) Follow(ctx context.Context, id string, cur Cursor, block time.Duration) ([]Event, Cursor, error) {
	ev, lg := cur.Events, cur.Log
	if ev == "" {
		ev = "0"
	}
	if lg == "" {
		lg = "0"
	}
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.k.events(id), s.k.log(id), ev, lg},
		Count:   256,
		Block:   block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, cur, nil
	}
	if err != nil {
		return nil, cur, err
	}
	var out []Event
	for _, st := range res {
		isLog := st.Stream == s.k.log(id)
		for _, m := range st.Messages {
			if isLog {
				b, _ := json.Marshal(logRecord(m))
				out = append(out, Event{ID: m.ID, Type: "log", Data: b})
				cur.Log = m.ID
			} else {
				out = append(out, event(m))
				cur.Events = m.ID
			}
		}
	}
	// Interleave the two streams by id (time, then sequence) so that a
	// reader sees log records and status changes in the order they happened.
	sort.SliceStable(out, func(i, j int) bool { return streamIDLess(out[i].ID, out[j].ID) })
	return out, cur, nil
}

func streamIDLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if an != bn {
		return an < bn
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	return asq < bsq
}
