package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
)

// keepAlive is how often an idle event stream sends a comment line.
var keepAlive = 15 * time.Second

// parseEventID reads a Last-Event-ID: "<events id>,<log id>".
func parseEventID(v string) (store.Cursor, bool) {
	if v == "" {
		return store.Cursor{}, true
	}
	ev, lg, ok := strings.Cut(v, ",")
	if !ok || (ev != "" && !streamIDPattern.MatchString(ev)) || (lg != "" && !streamIDPattern.MatchString(lg)) {
		return store.Cursor{}, false
	}
	return store.Cursor{Events: ev, Log: lg}, true
}

// events streams an execution's status, progress, incumbent and log
// events as Server-Sent Events. Each event's id is "<events id>,<log id>"
// so a reconnecting client resumes with Last-Event-ID. The stream ends
// after the status event that finishes the execution.
func (h *handler) events(w http.ResponseWriter, r *http.Request, p *Principal) error {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	cur, ok := parseEventID(last)
	if !ok {
		return &job.Error{Code: job.CodeBadRequest, Message: "bad Last-Event-ID",
			Violations: []job.Violation{{Pointer: "?last_event_id", Keyword: "format", Message: "an id of a previous event"}}}
	}
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	if _, err := h.st.EnsureEvents(r.Context(), e.ID); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	ctx := r.Context()
	for ctx.Err() == nil {
		evs, next, err := h.st.Follow(ctx, e.ID, cur, keepAlive)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.log.Warn("solvekit/httpapi: event stream", "execution", e.ID, "err", err)
			fmt.Fprintf(w, "event: error\ndata: {\"message\":\"event stream interrupted\"}\n\n")
			_ = rc.Flush()
			return nil
		}
		if len(evs) == 0 {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			_ = rc.Flush()
			continue
		}
		// Follow returns the two streams interleaved by id.
		done := false
		c := cur
		for _, ev := range evs {
			if ev.Type == "log" {
				c.Log = ev.ID
			} else {
				c.Events = ev.ID
			}
			data := ev.Data
			if !json.Valid(data) {
				data = json.RawMessage("null")
			}
			if _, err := fmt.Fprintf(w, "id: %s,%s\nevent: %s\ndata: %s\n\n", c.Events, c.Log, ev.Type, data); err != nil {
				return nil
			}
			if ev.Type == "status" && terminalEvent(data) {
				done = true
			}
		}
		_ = rc.Flush()
		cur = next
		if done {
			// A relaunched execution is live again: keep following.
			rec, err := h.svc.Get(context.WithoutCancel(ctx), e.ID)
			if err != nil || rec.State.Terminal() {
				// Drain log records the job's log buffer writes just
				// after the final status: wait until the streams are quiet.
				for i := 0; i < 20; i++ {
					evs, next, err := h.st.Follow(ctx, e.ID, cur, 150*time.Millisecond)
					if err != nil || len(evs) == 0 {
						break
					}
					c := cur
					for _, ev := range evs {
						if ev.Type == "log" {
							c.Log = ev.ID
						} else {
							c.Events = ev.ID
						}
						fmt.Fprintf(w, "id: %s,%s\nevent: %s\ndata: %s\n\n", c.Events, c.Log, ev.Type, ev.Data)
					}
					cur = next
				}
				_ = rc.Flush()
				return nil
			}
		}
	}
	return nil
}

func terminalEvent(data json.RawMessage) bool {
	var s struct {
		State job.State `json:"state"`
	}
	return json.Unmarshal(data, &s) == nil && s.State.Terminal()
}
