package httpapi

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// keepAlive is how often an idle event stream sends a comment line.
var keepAlive = 15 * time.Second

// events streams an execution's status, progress, incumbent and log
// events (Service.Follow) as Server-Sent Events. Each event's id resumes
// the stream: a reconnecting client sends it as Last-Event-ID. The stream
// ends after the status event that finishes the execution.
func (h *handler) events(w http.ResponseWriter, r *http.Request, p *Principal) error {
	// A bad Last-Event-ID is a 400, not an interrupted stream.
	_, err := h.streamExecution(w, r, p, "last_event_id", "event stream", nil, func(err error) error {
		if je := (*job.Error)(nil); errors.As(err, &je) && je.Code == job.CodeBadRequest {
			return &job.Error{Code: job.CodeBadRequest, Message: "bad Last-Event-ID",
				Violations: []job.Violation{{Pointer: "?last_event_id", Keyword: "format", Message: "an id of a previous event"}}}
		}
		return err
	})
	return err
}

// streamExecution follows the execution the path names (which p must see)
// from the request's Last-Event-ID, else the query parameter named after,
// and writes its events with writeStream (what and keep as there). The first
// event (or error) decides the status code: an error there is returned,
// through firstErr, instead of a stream. done is writeStream's.
func (h *handler) streamExecution(w http.ResponseWriter, r *http.Request, p *Principal, after, what string,
	keep func(string) bool, firstErr func(error) error) (done bool, err error) {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get(after)
	}
	e, err := h.execution(r, p, false)
	if err != nil {
		return false, err
	}
	ctx := r.Context()
	next, stop := iter.Pull2(h.svc.Follow(ctx, e.ID, solvekit.FollowOptions{After: last, Idle: keepAlive}))
	defer stop()
	ev, err, ok := next()
	if err != nil {
		return false, firstErr(err)
	}
	return h.writeStream(ctx, w, e.ID, what, next, ev, ok, keep), nil
}

// writeStream writes the events of a Follow iterator, ev and ok its first
// pull and next the rest, as Server-Sent Events: each with its id (which
// resumes the stream as Last-Event-ID), idle ones as keep-alive comments,
// only the types keep takes (nil: all). It returns when the iterator ends
// or the client goes; an error in between is logged and sent as an
// "error" event naming what was interrupted. done reports whether the
// iterator ended (the execution finished) rather than being cut.
func (h *handler) writeStream(ctx context.Context, w http.ResponseWriter, id, what string,
	next func() (job.Event, error, bool), ev job.Event, ok bool, keep func(string) bool) (done bool) {
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	var err error
	for ; ok; ev, err, ok = next() {
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("solvekit/httpapi: "+what, "execution", id, "err", err)
				fmt.Fprintf(w, "event: error\ndata: {\"message\":\"%s interrupted\"}\n\n", what)
				_ = rc.Flush()
			}
			return false
		}
		switch {
		case ev.Type == "idle":
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		case keep == nil || keep(ev.Type):
			_, err = fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, ev.Data)
		default:
			continue
		}
		if err != nil {
			return false
		}
		_ = rc.Flush()
	}
	return ctx.Err() == nil
}
