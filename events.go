package solvekit

import (
	"context"
	"encoding/json"
	"iter"
	"strings"
	"time"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// Logs returns up to limit log records of an execution after the cursor
// ("" from the start). A record's ID is the cursor of the next page.
func (s *Service) Logs(ctx context.Context, id, after string, limit int) ([]job.LogRecord, error) {
	if _, err := s.store.Get(ctx, id); err != nil {
		return nil, store.Classify(err)
	}
	recs, err := s.store.Logs(ctx, id, after, limit)
	return recs, store.Classify(err)
}

// LogCount returns how many log records an execution has stored.
func (s *Service) LogCount(ctx context.Context, id string) (int64, error) {
	n, err := s.store.LogCount(ctx, id)
	return n, store.Classify(err)
}

// Incumbent returns the last incumbent a running (or stopped) execution
// published with job.Context.Incumbent, or a not-found error when it has
// none.
func (s *Service) Incumbent(ctx context.Context, id string) (json.RawMessage, error) {
	b, err := s.store.Incumbent(ctx, id)
	return b, store.Classify(err)
}

// FollowOptions tunes Follow.
type FollowOptions struct {
	// After resumes after the event with this ID (an Event.ID from an
	// earlier Follow). Default "": from the execution's first event.
	After string
	// Idle, when positive, makes Follow yield an event of type "idle"
	// (no ID, no data) whenever nothing happened for that long, so that a
	// caller streaming to a client can send keep-alives. Default 0: none.
	Idle time.Duration
}

// followDrain is how long Follow keeps reading after the final status for
// the log records a job's log buffer writes just after it.
const followDrain = 150 * time.Millisecond

// Follow returns an execution's events as they happen: state changes,
// progress, incumbents and log records, in the order they were written,
// starting from the beginning (or after o.After). The sequence ends after
// the status event that finishes the execution (and the log records
// written with it), when ctx ends (without an error), or with an error.
// A relaunched execution is followed on. Each event's ID resumes the
// sequence there: pass it as FollowOptions.After after a reconnect.
//
//	for ev, err := range svc.Follow(ctx, id, solvekit.FollowOptions{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, string(ev.Data))
//	}
func (s *Service) Follow(ctx context.Context, id string, o FollowOptions) iter.Seq2[job.Event, error] {
	return func(yield func(job.Event, error) bool) {
		cur, ok := parseFollowID(o.After)
		if !ok {
			yield(job.Event{}, job.Errorf(job.CodeBadRequest, "bad event id %q: use an Event.ID from an earlier Follow", o.After))
			return
		}
		if _, err := s.store.Get(ctx, id); err != nil {
			yield(job.Event{}, store.Classify(err))
			return
		}
		if _, err := s.store.EnsureEvents(ctx, id); err != nil {
			yield(job.Event{}, store.Classify(err))
			return
		}
		block := o.Idle
		if block <= 0 {
			block = 15 * time.Second
		}
		draining := 0
		for ctx.Err() == nil {
			wait := block
			if draining > 0 {
				wait = followDrain
			}
			evs, next, err := s.store.Follow(ctx, id, cur, wait)
			if err != nil {
				if ctx.Err() == nil {
					yield(job.Event{}, store.Classify(err))
				}
				return
			}
			if len(evs) == 0 {
				if draining > 0 {
					return
				}
				if o.Idle > 0 && !yield(job.Event{Type: "idle"}, nil) {
					return
				}
				continue
			}
			final := false
			for _, ev := range evs {
				if ev.Type == "log" {
					cur.Log = ev.ID
				} else {
					cur.Events = ev.ID
				}
				if !json.Valid(ev.Data) {
					ev.Data = json.RawMessage("null")
				}
				ev.ID = cur.Events + "," + cur.Log
				if ev.Type == "status" && terminalEvent(ev.Data) {
					final = true
				}
				if !yield(ev, nil) {
					return
				}
			}
			cur = next
			switch {
			case draining > 0:
				if draining++; draining > 20 {
					return
				}
			case final:
				// A relaunched execution is live again: keep following.
				rec, err := s.store.Get(context.WithoutCancel(ctx), id)
				if err != nil || rec.State.Terminal() {
					draining = 1
				}
			}
		}
	}
}

// parseFollowID reads an Event.ID of Follow: "<events id>,<log id>".
func parseFollowID(v string) (store.Cursor, bool) {
	if v == "" {
		return store.Cursor{}, true
	}
	ev, lg, ok := strings.Cut(v, ",")
	if !ok || (ev != "" && !streamID(ev)) || (lg != "" && !streamID(lg)) {
		return store.Cursor{}, false
	}
	return store.Cursor{Events: ev, Log: lg}, true
}

// streamID reports whether v looks like a Redis stream id (ms-seq).
func streamID(v string) bool {
	ms, seq, ok := strings.Cut(v, "-")
	return ok && digits(ms) && digits(seq)
}

func digits(v string) bool {
	if v == "" || len(v) > 20 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func terminalEvent(data json.RawMessage) bool {
	var st struct {
		State job.State `json:"state"`
	}
	return json.Unmarshal(data, &st) == nil && st.State.Terminal()
}
