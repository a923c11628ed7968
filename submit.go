package solvekit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
	"github.com/solvekit/solvekit/store"
	"github.com/solvekit/solvekit/transport/queue"
)

// SubmitRequest asks for one execution of a job type.
type SubmitRequest struct {
	// JobType names a registered job type. Required.
	JobType string
	// Instance is the input data, inline. Exactly one of Instance and
	// InstanceID is required.
	Instance json.RawMessage
	// InstanceID names a stored instance (CreateInstance) to run on.
	InstanceID string
	// Config is the run configuration; the config schema's defaults fill
	// what it leaves out. A "solver" field picks the solver ("mip.cbc").
	Config json.RawMessage
	// Solver overrides the config's "solver" field when set.
	Solver string
	// Name is a human label.
	Name string
	// Metadata are free-form labels, filterable in List.
	Metadata map[string]string
	// Owner is the user the execution belongs to (the REST layer sets it).
	Owner string
	// Queue overrides the job type's queue.
	Queue string
	// Timeout overrides the job type's time limit (0 keeps it).
	Timeout time.Duration
}

// Submit validates the request and records the execution. An async job is
// queued and Submit returns at once with the queued record; a sync job runs
// inside Submit (ctx cancelled counts as a stop) and Submit returns its
// terminal record. Bad input returns an *job.Error with code
// CodeInvalid listing every violation, and nothing is stored or queued.
func (s *Service) Submit(ctx context.Context, req SubmitRequest) (*job.Execution, error) {
	t, e, input, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if t.Def.Kind == job.KindSync {
		return s.runSync(ctx, t, e, input)
	}
	a := queue.Attempt{ID: e.ID, Attempt: 1}
	if s.fused {
		// One script writes the record and its task: one round trip, and
		// never one without the other.
		task := queue.NewTask(a, queue.EnqueueOptions{Queue: e.Queue, Timeout: e.Timeout}, time.Now())
		if err := s.store.CreateNew(ctx, e, input, task); err != nil {
			return nil, err
		}
		return e, nil
	}
	if err := s.store.CreateNew(ctx, e, input, nil); err != nil {
		return nil, err
	}
	if _, err := s.queue.Enqueue(ctx, a, queue.EnqueueOptions{Queue: e.Queue, Timeout: e.Timeout}); err != nil {
		// The record is stored: the sweeper enqueues it after QueuedGrace.
		s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", e.ID, "err", err)
	}
	return e, nil
}

// prepare validates a request and builds the record without storing it.
func (s *Service) prepare(ctx context.Context, req SubmitRequest) (*registry.Type, *job.Execution, json.RawMessage, error) {
	if req.JobType == "" {
		return nil, nil, nil, &job.Error{Code: job.CodeInvalid, Message: "job type is required",
			Violations: []job.Violation{{Pointer: "/job_type", Keyword: "required", Message: "job type is required"}}}
	}
	t, err := s.reg.Lookup(req.JobType)
	if err != nil {
		return nil, nil, nil, err
	}
	if t.Paused() {
		return nil, nil, nil, job.Errorf(job.CodeUnavailable, "job type %q is paused", req.JobType)
	}
	input := req.Instance
	switch {
	case len(input) > 0 && req.InstanceID != "":
		return nil, nil, nil, job.Errorf(job.CodeInvalid, "give either an inline instance or an instance id, not both")
	case req.InstanceID != "":
		b, err := s.store.InstanceData(ctx, req.InstanceID)
		if err != nil {
			return nil, nil, nil, err
		}
		input = b
	case len(input) == 0:
		return nil, nil, nil, &job.Error{Code: job.CodeInvalid, Message: "instance is required",
			Violations: []job.Violation{{Pointer: "/instance", Keyword: "required", Message: "an instance or an instance id is required"}}}
	}
	instErr := t.ValidateInstance(input)
	cfg, cfgErr := t.PrepareConfig(req.Config)
	if err := joinInvalid(instErr, cfgErr); err != nil {
		return nil, nil, nil, err
	}
	solver, cfg, err := chooseSolver(t.Def, cfg, req.Solver)
	if err != nil {
		return nil, nil, nil, err
	}
	timeout := t.Def.Timeout
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	q := t.Def.QueueName()
	if req.Queue != "" {
		q = req.Queue
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, nil, nil, err
	}
	e := &job.Execution{
		ID: id.String(), JobType: t.Name(), Kind: t.Def.Kind, Name: req.Name, State: job.StateQueued,
		Solver: solver, Attempt: 1, MaxRetries: t.Def.Retries(), Queue: q, Owner: req.Owner,
		InstanceID: req.InstanceID, Config: cfg, Metadata: req.Metadata, Timeout: timeout,
		CreatedAt: nowUTC(),
	}
	return t, e, input, nil
}

// joinInvalid merges instance and config validation errors into one, with
// pointers prefixed by the document they point into.
func joinInvalid(instErr, cfgErr error) error {
	if instErr == nil && cfgErr == nil {
		return nil
	}
	out := &job.Error{Code: job.CodeInvalid}
	var msgs []string
	for _, p := range []struct {
		err    error
		prefix string
	}{{instErr, "/instance"}, {cfgErr, "/config"}} {
		if p.err == nil {
			continue
		}
		var je *job.Error
		if !errors.As(p.err, &je) {
			return p.err
		}
		if je.Code == job.CodeBadRequest && out.Code == job.CodeInvalid {
			out.Code = job.CodeBadRequest
		}
		msgs = append(msgs, je.Message)
		for _, v := range je.Violations {
			v.Pointer = p.prefix + v.Pointer
			out.Violations = append(out.Violations, v)
		}
	}
	out.Message = strings.Join(msgs, "; ")
	return out
}

// chooseSolver resolves the solver name from the request, the config's
// "solver" field and the job's default, checks it against the job's
// solvers, and writes it back into the config.
func chooseSolver(d *job.Definition, cfg json.RawMessage, override string) (string, json.RawMessage, error) {
	var m map[string]any
	// A job type without solvers and a config naming none (the common
	// case) need no decoding.
	if len(d.Solvers) > 0 || bytes.Contains(cfg, []byte(`"solver"`)) {
		_ = json.Unmarshal(cfg, &m)
	}
	name := override
	if name == "" {
		if v, ok := m["solver"].(string); ok {
			name = v
		}
	}
	if name == "" {
		name = d.DefaultSolver
	}
	if name == "" || len(d.Solvers) == 0 {
		return name, cfg, nil
	}
	base, _, _ := strings.Cut(name, ".")
	known := false
	for _, sv := range d.Solvers {
		if sv == base || sv == name {
			known = true
		}
	}
	if !known {
		return "", nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("unknown solver %q", name),
			Violations: []job.Violation{{Pointer: "/config/solver", Keyword: "enum",
				Message: fmt.Sprintf("solver %q is not one of %s", name, strings.Join(d.Solvers, ", "))}}}
	}
	if m != nil && m["solver"] != name {
		m["solver"] = name
		if b, err := json.Marshal(m); err == nil {
			cfg = b
		}
	}
	return name, cfg, nil
}

// Get returns an execution record.
func (s *Service) Get(ctx context.Context, id string) (*job.Execution, error) {
	return s.store.Get(ctx, id)
}

// Solution returns the stored solution of an execution (for a stopped or
// timed-out one, its last incumbent).
func (s *Service) Solution(ctx context.Context, id string) (json.RawMessage, error) {
	return s.store.Solution(ctx, id)
}

// Instance returns the instance data an execution runs on.
func (s *Service) Instance(ctx context.Context, id string) (json.RawMessage, error) {
	return s.store.Input(ctx, id)
}

// Logs returns up to limit log records of an execution after the cursor
// ("" from the start). A record's ID is the cursor for the next page.
func (s *Service) Logs(ctx context.Context, id, after string, limit int) ([]store.LogRecord, error) {
	if _, err := s.store.Get(ctx, id); err != nil {
		return nil, err
	}
	return s.store.Logs(ctx, id, after, limit)
}

// ListOptions filters and pages List.
type ListOptions struct {
	store.Filter
	// Limit is the page size. Default 25, at most 1000.
	Limit int
	// Offset skips that many matches.
	Offset int
}

// List returns executions newest first and how many match in all.
func (s *Service) List(ctx context.Context, o ListOptions) ([]*job.Execution, int64, error) {
	if o.Limit <= 0 {
		o.Limit = 25
	}
	if o.Limit > 1000 || o.Offset < 0 {
		return nil, 0, job.Errorf(job.CodeBadRequest, "limit must be at most 1000 and offset not negative")
	}
	if o.State != "" && !o.State.Valid() {
		return nil, 0, job.Errorf(job.CodeBadRequest, "unknown state %q", o.State)
	}
	return s.store.List(ctx, o.Filter, store.Page{Limit: o.Limit, Offset: o.Offset})
}

// Wait blocks until the execution reaches a terminal state (or ctx ends)
// and returns its record.
func (s *Service) Wait(ctx context.Context, id string) (*job.Execution, error) {
	ch, ready := s.rt.addWaiter(ctx, id)
	defer s.rt.removeWaiter(id, ch)
	// Read the record only once the subscription is in place, so that a
	// finish between the read and the subscription cannot go unheard.
	// Re-check now and then in case a notification was missed during a
	// reconnect of the subscription.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	select {
	case <-ready:
	case <-tick.C:
	case <-ctx.Done():
		// Still answer with the record as it is, as the loop below does.
		e, err := s.store.Get(context.WithoutCancel(ctx), id)
		if err != nil {
			return nil, err
		}
		return e, ctx.Err()
	}
	for {
		e, err := s.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if e.State.Terminal() {
			return e, nil
		}
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}

// Cancel stops an execution: a queued one is stopped at once; a running
// one has its context cancelled on whichever worker runs it, and is
// recorded as stopped with its best incumbent as solution once the job
// returns. Cancelling a finished execution is a conflict error.
func (s *Service) Cancel(ctx context.Context, id string) error {
	e, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	res, err := s.store.Cancel(ctx, id, nowUTC())
	if err != nil {
		return err
	}
	switch res {
	case store.CancelStopped:
		_ = s.queue.Delete(e.Queue, queue.Attempt{ID: id, Attempt: e.Attempt})
	case store.CancelRequested:
		s.rt.cancel(id, errStopped) // fast path when it runs here
	case store.CancelTerminal:
		return job.Errorf(job.CodeConflict, "execution %q already finished", id)
	}
	return nil
}

// RelaunchRequest asks for a new attempt of a finished execution.
type RelaunchRequest struct {
	// Config replaces the config when set (validated, defaults filled).
	Config json.RawMessage
}

// Relaunch starts a new attempt of a finished execution on the same
// instance, optionally with a new config. The previous result is cleared.
func (s *Service) Relaunch(ctx context.Context, id string, req RelaunchRequest) (*job.Execution, error) {
	e, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !e.State.Terminal() {
		return nil, job.Errorf(job.CodeConflict, "execution %q is %s; only finished executions can be relaunched", id, e.State)
	}
	t, err := s.reg.Lookup(e.JobType)
	if err != nil {
		return nil, err
	}
	var cfg json.RawMessage
	if len(req.Config) > 0 {
		if cfg, err = t.PrepareConfig(req.Config); err != nil {
			return nil, joinInvalid(nil, err)
		}
		if _, cfg, err = chooseSolver(t.Def, cfg, ""); err != nil {
			return nil, err
		}
	}
	res, err := s.store.Requeue(ctx, id, store.RequeueRequest{Mode: store.Relaunch, Attempt: e.Attempt, Config: cfg}, nowUTC())
	if err != nil {
		return nil, err
	}
	if !res.Requeued {
		return nil, job.Errorf(job.CodeConflict, "execution %q changed while relaunching; try again", id)
	}
	if t.Def.Kind == job.KindSync {
		// Sync types relaunch on a worker like async ones: nobody waits
		// inside a request for them.
		s.cfg.Logger.Debug("solvekit: relaunching a sync job on the queue", "execution", id)
	}
	if _, err := s.queue.Enqueue(ctx, queue.Attempt{ID: id, Attempt: res.Attempt}, queue.EnqueueOptions{Queue: e.Queue, Timeout: e.Timeout}); err != nil {
		s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", id, "err", err)
	}
	return s.store.Get(ctx, id)
}

// Delete removes a finished execution with its data and logs.
func (s *Service) Delete(ctx context.Context, id string) error { return s.store.Delete(ctx, id) }

// DeleteFinishedBefore removes executions that finished before t and
// returns how many it removed.
func (s *Service) DeleteFinishedBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	for {
		ids, err := s.store.FinishedBefore(ctx, t, 500)
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			return n, nil
		}
		for _, id := range ids {
			if err := s.store.Delete(ctx, id); err != nil && !errors.Is(err, job.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
}

// Counts returns how many executions are in each state.
func (s *Service) Counts(ctx context.Context) (map[job.State]int64, error) {
	return s.store.CountByState(ctx)
}

// CreateInstance validates data against the job type's instance schema
// (when a job type is named) and stores it for later executions.
func (s *Service) CreateInstance(ctx context.Context, in *store.Instance, data json.RawMessage) (*store.Instance, error) {
	if in.JobType != "" {
		t, err := s.reg.Lookup(in.JobType)
		if err != nil {
			return nil, err
		}
		if err := t.ValidateInstance(data); err != nil {
			return nil, err
		}
	} else if !json.Valid(data) {
		return nil, job.Errorf(job.CodeBadRequest, "instance data is not valid JSON")
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	in.ID = id.String()
	in.CreatedAt = nowUTC()
	if in.Format == "" {
		in.Format = "json"
	}
	if err := s.store.CreateInstance(ctx, in, data); err != nil {
		return nil, err
	}
	return in, nil
}
