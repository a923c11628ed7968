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

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
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
	// Queue overrides the job type's queue; it must be one of Queues()
	// (an unknown queue is refused with CodeInvalid).
	Queue string
	// Timeout overrides the job type's time limit (0 keeps it).
	Timeout time.Duration
	// ID, when set, is the execution's id, chosen by the caller instead of
	// a generated UUIDv7: 1 to 64 letters, digits, '-', '_' or '.'. An id
	// that exists is refused with CodeConflict (never overwritten), so an
	// ambiguous error (job.ErrOutcomeUnknown) on a submit with an ID is
	// resolved by Get: the execution is there or it is not.
	ID string
	// IdempotencyKey, when set, makes the submit safe to repeat: a submit
	// by the same Owner with the same key within Config.IdempotencyWindow
	// returns the execution the first one created (SubmitOnce tells it was
	// a replay) instead of creating another, even when both run at once.
	// The same key with a different request is refused with CodeInvalid.
	// Only the key's SHA-256 is stored.
	IdempotencyKey string
	// Tags label the execution (see Service.Tags and ListOptions.Tag):
	// 1 to 64 of a-z, 0-9, '.', '_', ':', '-' each, at most 32; others are
	// refused with CodeInvalid.
	Tags []string
	// RequireTags are worker tags the execution needs, beside its job
	// type's (job.WithRequiredTags): it runs only on a worker whose
	// Config.WorkerTags hold them all, and stays queued while none does.
	// A sync job type runs in the submitting process, which must have them.
	RequireTags []string
	// JobKey, when set, is a secret that identifies this one execution (a
	// "job key", as ckan-service-provider hands out): CheckJobKey tells
	// whether a presented key is it. Only its SHA-256 is stored, in the
	// execution's record, and it is deleted with it. The REST handler
	// makes one for every execution it creates.
	JobKey string
	// RunAt, when set and in the future, is when the execution is due: it
	// is stored in state scheduled, without a queue task, and queued at
	// that time by the scheduler of a process that runs Work (see
	// docs/schedules.md). Async job types only (CodeInvalid for sync ones).
	// A time not after now queues it at once.
	RunAt time.Time
	// RunIn is RunAt relative to now ("due in 90s"). Not with RunAt.
	RunIn time.Duration

	// scheduleID names the periodic schedule whose firing submits this.
	scheduleID string
	// ResultURL, when set, is called back once the execution ends
	// (succeeded, failed, stopped or timed out): an http or https URL to
	// which the Service POSTs the execution (see callbacks.go and
	// docs/callbacks.md), retried until delivered or Config.CallbackMaxAge.
	ResultURL string
	// CallbackFormat names the format of the callback's body: "" for
	// solvekit's own (the Execution JSON, signed with
	// Config.CallbackSecret), or one registered with
	// RegisterCallbackFormat (transport/ckanapi registers "ckan").
	CallbackFormat string
	// CallbackAuthorization, when set, is sent as the callback's
	// Authorization header (a CallbackFormat may place it elsewhere). It
	// is stored with the execution until the delivery ends, and never
	// shown by Get, List or the REST API.
	CallbackAuthorization string
}

// Submit validates the request and records the execution. An async job is
// queued and Submit returns at once with the queued record; a sync job runs
// inside Submit (ctx cancelled counts as a stop) and Submit returns its
// terminal record. Bad input returns an *job.Error with code
// CodeInvalid listing every violation (at most 1000 per document), and
// nothing is stored or queued.
//
// An error from Submit means that nothing was stored, with one exception:
// job.ErrOutcomeUnknown (code job.CodeOutcomeUnknown) says that the
// connection to Redis broke after the execution was sent, so it may or may
// not exist (or, for a sync job, that it ran but its record could not be
// read back). Submit then returns the record it sent along with the error:
// Get its ID before submitting again. A Redis that cannot be reached or is
// still loading is job.ErrUnavailable, after the store's short retries:
// nothing was stored, and submitting again later is safe.
func (s *Service) Submit(ctx context.Context, req SubmitRequest) (*job.Execution, error) {
	if req.IdempotencyKey != "" {
		r, err := s.SubmitOnce(ctx, req)
		return r.Execution, err
	}
	ctx, end := s.startCall(ctx, Call{Op: "submit", JobType: req.JobType, ID: req.ID})
	t, e, input, err := s.prepare(ctx, req)
	if err != nil {
		err = store.Classify(err)
		endCall(end, nil, err, false)
		return nil, err
	}
	out, err := s.submitPrepared(ctx, t, e, input, req)
	endCall(end, out, err, false)
	return out, err
}

// submitPrepared stores (and for a sync job runs) the execution prepare
// built.
func (s *Service) submitPrepared(ctx context.Context, t *registry.Type, e *job.Execution, input json.RawMessage, req SubmitRequest) (*job.Execution, error) {
	if e.State == job.StateScheduled {
		return s.submitScheduled(ctx, req, e, input)
	}
	if t.Def.Kind == job.KindSync {
		out, err := s.runSync(ctx, t, e, input, req)
		return submitted(e, out, err)
	}
	a := queue.Attempt{ID: e.ID, Attempt: 1}
	if s.fused {
		// One script writes the record and its task: one round trip, and
		// never one without the other.
		task := queue.NewTask(a, queue.EnqueueOptions{Queue: taskQueue(e), Timeout: e.Timeout}, time.Now())
		// The task is queued by the same script, so a worker of this
		// process may start the job before the script's reply is read:
		// its start waits for the submit to be published first.
		announced := s.announcing(e.ID)
		err := s.create(ctx, req, e, input, task)
		if s.afterCreate != nil {
			s.afterCreate(e.ID)
		}
		if err == nil && announced != nil {
			s.publish(s.transition(e, "", job.StateQueued, "submit"))
		}
		if announced != nil {
			announced()
		}
		if err != nil {
			return submitted(e, nil, err)
		}
		return e, nil
	}
	if err := s.create(ctx, req, e, input, nil); err != nil {
		return submitted(e, nil, err)
	}
	if s.observed() {
		s.publish(s.transition(e, "", job.StateQueued, "submit"))
	}
	if _, err := s.queue.Enqueue(ctx, a, queue.EnqueueOptions{Queue: taskQueue(e), Timeout: e.Timeout}); err != nil {
		// The record is stored: the sweeper enqueues it after QueuedGrace.
		s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", e.ID, "err", err)
	}
	return e, nil
}

// create stores the record of a new execution (and its task, when given).
// A generated id is new, so a record found under it can only be this
// call's own earlier send (CreateNew); a chosen one may be anybody's.
func (s *Service) create(ctx context.Context, req SubmitRequest, e *job.Execution, input json.RawMessage, task *store.Task) error {
	if req.ID != "" {
		return s.store.CreateChosen(ctx, e, input, task, req.JobKey, callbackFields(req)...)
	}
	return s.store.CreateNew(ctx, e, input, task, req.JobKey, callbackFields(req)...)
}

// checkChosenID refuses a caller's execution id that is empty, too long or
// holds characters that key names, URLs and log lines do not take as is.
func checkChosenID(id string) error {
	ok := len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if ok && id != "." && id != ".." {
		return nil
	}
	return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("invalid execution id %q", id),
		Violations: []job.Violation{{Pointer: "/id", Keyword: "pattern",
			Message: "an id is 1 to 64 letters, digits, '-', '_' or '.'"}}}
}

// submitted is Submit's answer after it sent record e: out and err, with
// an unknown outcome naming e (returned too) and outages typed.
func submitted(e, out *job.Execution, err error) (*job.Execution, error) {
	if err == nil || !errors.Is(err, job.ErrOutcomeUnknown) {
		return out, store.Classify(err)
	}
	if out == nil {
		out = e
	}
	var je *job.Error
	errors.As(err, &je)
	return out, &job.Error{Code: job.CodeOutcomeUnknown, Err: err,
		Message: fmt.Sprintf("execution %s: %s; get it before submitting again", e.ID, je.Message)}
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
	if s.JobTypePaused(t.Name()) {
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
		if err := s.checkQueue(req.Queue); err != nil {
			return nil, nil, nil, err
		}
		q = req.Queue
	}
	id := req.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, nil, nil, err
		}
		id = u.String()
	} else if err := checkChosenID(id); err != nil {
		return nil, nil, nil, err
	}
	tags, requires, err := s.checkSubmitTags(t.Def, req)
	if err != nil {
		return nil, nil, nil, err
	}
	e := &job.Execution{
		Tags: tags, RequireTags: requires,
		ID: id, JobType: t.Name(), Kind: t.Def.Kind, Name: req.Name, State: job.StateQueued,
		Solver: solver, Attempt: 1, MaxRetries: t.Def.Retries(), Queue: q, Owner: req.Owner,
		InstanceID: req.InstanceID, Config: cfg, Metadata: req.Metadata, Timeout: timeout,
		CreatedAt: nowUTC(), ScheduleID: req.scheduleID, TraceParent: traceParent(ctx),
	}
	if err := s.planRun(t, e, req); err != nil {
		return nil, nil, nil, err
	}
	if err := s.prepareCallback(req, e); err != nil {
		return nil, nil, nil, err
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
// solvers, and writes it back into the config. A name given in the request
// or the config is refused (invalid) unless the job declares it; a job that
// declares no solvers accepts none.
func chooseSolver(d *job.Definition, cfg json.RawMessage, override string) (string, json.RawMessage, error) {
	var m map[string]any
	// A job type without solvers and a config naming none (the common
	// case) need no decoding.
	if len(d.Solvers) > 0 || bytes.Contains(cfg, []byte(`"solver"`)) {
		_ = json.Unmarshal(cfg, &m)
	}
	name, pointer := override, "/solver"
	if name == "" {
		if v, ok := m["solver"].(string); ok {
			name, pointer = v, "/config/solver"
		}
	}
	if len(d.Solvers) == 0 {
		if name != "" && name != d.DefaultSolver {
			return "", nil, &job.Error{Code: job.CodeInvalid,
				Message: fmt.Sprintf("unknown solver %q: job type %q has no solvers to choose from", name, d.Name),
				Violations: []job.Violation{{Pointer: pointer, Keyword: "enum",
					Message: fmt.Sprintf("job type %q declares no solvers; leave the solver out", d.Name)}}}
		}
		return d.DefaultSolver, cfg, nil
	}
	if name == "" {
		name = d.DefaultSolver
	}
	if name == "" {
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
			Violations: []job.Violation{{Pointer: pointer, Keyword: "enum",
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

// ListOptions filters and pages List. Zero fields do not filter. Every
// filter and the pairs state × job type, owner × state and job type ×
// owner, each with a creation-time range, are read from an index, at the
// same cost whatever is stored; see docs/listing.md.
type ListOptions struct {
	// State keeps executions in one state.
	State job.State
	// JobType keeps executions of one job type.
	JobType string
	// Owner keeps one owner's executions.
	Owner string
	// InstanceID keeps the executions that ran on one stored instance.
	InstanceID string
	// CreatedAfter and CreatedBefore bound the creation time (inclusive).
	CreatedAfter, CreatedBefore time.Time
	// Metadata keeps executions whose metadata has every key=value given.
	Metadata map[string]string
	// Tag keeps executions carrying this tag (an index of its own).
	Tag string
	// ScheduleID keeps the executions a periodic schedule created (read
	// from their label ScheduleLabel).
	ScheduleID string
	// Limit is the page size. Default 25, at most 1000.
	Limit int
	// PageToken continues a listing where the page that gave it
	// (ExecutionPage.NextPageToken) ended, at any depth and without
	// skipping or repeating an execution when others are submitted or
	// deleted meanwhile. Not with Offset.
	PageToken string
	// Offset skips that many matches; at most MaxOffset, and only when the
	// filters are served by one index (see docs/listing.md). Prefer
	// PageToken.
	Offset int
}

// MaxOffset is the deepest ListOptions.Offset (and InstanceFilter.Offset)
// served; deeper pages are read with a page token.
const MaxOffset = store.MaxOffset

// ExecutionPage is one page of ListPage.
type ExecutionPage struct {
	Executions []*job.Execution
	// Total is how many executions match in all, or -1 when counting would
	// cost a scan of more than 1,000 records: a filter that no single index
	// serves (three of state, job type and owner at once, or metadata
	// beside another filter) over larger sets.
	Total int64
	// NextPageToken reads the next page (ListOptions.PageToken); "" when
	// this page is the last. A page of a filter served by scanning may
	// hold fewer than Limit executions and still have a next one.
	NextPageToken string
}

// List returns executions newest first and how many match in all (-1 when
// counting would cost a scan, see ExecutionPage.Total). ListPage returns
// the next page's token too.
func (s *Service) List(ctx context.Context, o ListOptions) ([]*job.Execution, int64, error) {
	p, err := s.ListPage(ctx, o)
	if err != nil {
		return nil, 0, err
	}
	return p.Executions, p.Total, nil
}

// ListPage returns one page of executions newest first, its total and the
// token of the next page. A request that would be expensive (an offset
// deeper than MaxOffset, or an offset with filters no index serves) is
// refused with job.CodeBadRequest.
func (s *Service) ListPage(ctx context.Context, o ListOptions) (*ExecutionPage, error) {
	p, err := page(o.Limit, o.Offset)
	if err != nil {
		return nil, err
	}
	p.Token = o.PageToken
	o.Metadata = withScheduleLabel(o.Metadata, o.ScheduleID)
	if o.State != "" && !o.State.Valid() {
		return nil, job.Errorf(job.CodeBadRequest, "unknown state %q", o.State)
	}
	l, err := s.store.List(ctx, store.Filter{State: o.State, JobType: o.JobType, Owner: o.Owner, InstanceID: o.InstanceID,
		CreatedAfter: o.CreatedAfter, CreatedBefore: o.CreatedBefore, Metadata: o.Metadata, Tag: o.Tag}, p)
	if err != nil {
		return nil, store.Classify(err)
	}
	return &ExecutionPage{Executions: l.Items, Total: l.Total, NextPageToken: l.Next}, nil
}

// Reindex rebuilds the listing indexes of executions stored by solvekit
// 0.1.0, whose indexes had another layout, and deletes the old ones; run it
// once after upgrading (see README, "Upgrading"). It is idempotent, safe
// while the service runs, and returns how many executions it indexed.
func (s *Service) Reindex(ctx context.Context) (int, error) {
	n, err := s.store.Reindex(ctx)
	return n, store.Classify(err)
}

// ExecutionUpdate changes the descriptive fields of an execution record.
// Nil fields are left as they are.
type ExecutionUpdate struct {
	// Name, when set, replaces the execution's name.
	Name *string
	// Metadata, when set, replaces the whole metadata map (an empty map
	// clears it).
	Metadata *map[string]string
	// Tags, when set, replaces the execution's tags (an empty list clears
	// them), moving its tag index entries in the same step. Its required
	// tags never change.
	Tags *[]string
}

// Update changes an execution's name or metadata (any state) and returns
// the updated record.
func (s *Service) Update(ctx context.Context, id string, u ExecutionUpdate) (*job.Execution, error) {
	if u.Tags != nil {
		if err := s.setTags(ctx, false, id, store.TagsSet, *u.Tags); err != nil {
			return nil, err
		}
		if u.Name == nil && u.Metadata == nil {
			return s.Get(ctx, id)
		}
	}
	l := store.Labels{Name: u.Name}
	if u.Metadata != nil {
		l.Metadata, l.SetMetadata = *u.Metadata, true
	}
	e, err := s.store.UpdateLabels(ctx, id, l)
	return e, store.Classify(err)
}

// Wait blocks until the execution reaches a terminal state (or ctx ends)
// and returns its record.
func (s *Service) Wait(ctx context.Context, id string) (*job.Execution, error) {
	ch, w := s.rt.addWaiter(id)
	defer s.rt.removeWaiter(id, ch)
	// Read the record only once the subscription is in place, so that a
	// finish between the read and the subscription cannot go unheard.
	// Re-check now and then in case a notification was missed during a
	// reconnect of the subscription.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	select {
	case <-w.ready:
	case <-tick.C:
	case <-ctx.Done():
		// Still answer with the record as it is, as waitLoop does.
		e, err := s.store.Get(context.WithoutCancel(ctx), id)
		if err != nil {
			return nil, err
		}
		return e, ctx.Err()
	}
	return s.waitLoop(ctx, id, ch, tick, nil)
}

// waitLoop reads the record of id until it is terminal, blocking between
// reads for its done notification (ch) or the fallback tick. last, when
// set, is a record known not to be terminal at a moment the subscription
// was already in place: the first read is skipped.
func (s *Service) waitLoop(ctx context.Context, id string, ch chan struct{}, tick *time.Ticker, last *job.Execution) (*job.Execution, error) {
	for {
		if last == nil {
			e, err := s.store.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			if e.State.Terminal() {
				return e, nil
			}
			last = e
		}
		if s.waitBlocked != nil {
			s.waitBlocked(id)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-ch:
		case <-tick.C:
		}
		last = nil
	}
}

// submitWait is Submit followed by a Wait of at most wait (none when
// wait is 0), as POST /executions?wait= does, with the execution's done
// subscription in place before the record is written: the execution
// cannot end unheard before the Wait starts, so its queued record needs no
// read. It returns the last record seen, the Wait's error (the record is
// then the one before it) and Submit's error.
func (s *Service) submitWait(ctx context.Context, req SubmitRequest, wait time.Duration) (e *job.Execution, replayed bool, waitErr, err error) {
	if req.IdempotencyKey != "" {
		// A replay's execution exists already: submit, then wait for it.
		r, err := s.SubmitOnce(ctx, req)
		if err != nil || wait <= 0 || r.Execution.State.Terminal() {
			return r.Execution, r.Replayed, nil, err
		}
		e, waitErr, err := s.getWait(ctx, r.Execution.ID, wait, func(*job.Execution) error { return nil })
		return e, r.Replayed, waitErr, err
	}
	// The call (a span) covers the submit, not the wait.
	sctx, end := s.startCall(ctx, Call{Op: "submit", JobType: req.JobType, ID: req.ID})
	t, e, input, err := s.prepare(sctx, req)
	if err != nil {
		err = store.Classify(err)
		endCall(end, nil, err, false)
		return nil, false, nil, err
	}
	if wait <= 0 || t.Def.Kind == job.KindSync {
		out, err := s.submitPrepared(sctx, t, e, input, req)
		endCall(end, out, err, false)
		return out, false, nil, err
	}
	e, waitErr, err = s.waitAfter(ctx, e.ID, wait, func() (*job.Execution, error) {
		out, err := s.submitPrepared(sctx, t, e, input, req)
		endCall(end, out, err, false)
		return out, err
	})
	endCall(end, nil, err, false) // when waitAfter failed before the submit (end runs once)
	return e, false, waitErr, err
}

// getWait reads execution id, checks it with check, and unless it is
// terminal waits at most wait for its end, as GET /executions/{id}?wait=
// does. The subscription is in place before the read, so that read both
// answers check and starts the wait. It returns the last record seen, the
// wait's error (the record is then the one before it) and the read's or
// check's error.
func (s *Service) getWait(ctx context.Context, id string, wait time.Duration, check func(*job.Execution) error) (*job.Execution, error, error) {
	return s.waitAfter(ctx, id, wait, func() (*job.Execution, error) {
		e, err := s.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return e, check(e)
	})
}

// waitAfter subscribes to id's done channel, then runs first (a submit or
// a read), and unless first fails or answers a terminal record waits at
// most wait for the end. When the subscription was confirmed before first
// ran, first's record is current as of a moment the end could not go
// unheard, so the wait starts without reading it again.
func (s *Service) waitAfter(ctx context.Context, id string, wait time.Duration, first func() (*job.Execution, error)) (*job.Execution, error, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ch, w := s.rt.addWaiter(id)
	defer s.rt.removeWaiter(id, ch)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	heard := false
	select {
	case <-w.ready:
		heard = w.ok
	case <-tick.C:
	case <-wctx.Done():
	}
	e, err := first()
	if err != nil {
		return e, nil, err
	}
	if e.State.Terminal() {
		return e, nil, nil
	}
	var last *job.Execution
	if heard {
		last = e
	}
	x, werr := s.waitLoop(wctx, id, ch, tick, last)
	if x != nil {
		e = x
	}
	return e, werr, nil
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
		return store.Classify(err)
	}
	switch res {
	case store.CancelStopped:
		_ = s.queue.Delete(taskQueue(e), queue.Attempt{ID: id, Attempt: e.Attempt})
		if s.observed() {
			s.publish(s.transition(e, job.StateQueued, job.StateStopped, "cancel"))
		}
	case store.CancelStoppedScheduled:
		if s.observed() {
			s.publish(s.transition(e, job.StateScheduled, job.StateStopped, "cancel"))
		}
	case store.CancelRequested:
		s.rt.cancel(id, errStopped) // fast path when it runs here
	case store.CancelTerminal:
		return job.Errorf(job.CodeConflict, "execution %q already finished", id)
	}
	return nil
}

// RelaunchRequest asks for a new attempt of a finished execution.
type RelaunchRequest struct {
	// Config replaces the config when set (validated, defaults filled);
	// its "solver" field (else the job type's default) selects the solver
	// of the new attempt.
	Config json.RawMessage
}

// Relaunch starts a new attempt of a finished execution on the same
// instance, optionally with a new config. The previous result is cleared.
// A new config selects the solver again, as Submit does: its "solver"
// field, else the job type's default.
func (s *Service) Relaunch(ctx context.Context, id string, req RelaunchRequest) (*job.Execution, error) {
	ctx, end := s.startCall(ctx, Call{Op: "relaunch", ID: id})
	out, err := s.relaunch(ctx, id, req)
	endCall(end, out, err, false)
	return out, err
}

// relaunch is Relaunch without its CallHooks. A traceparent in ctx
// (WithTraceParent) replaces the submit's, so the new attempts join the
// relauncher's trace; without one they stay in the submit's.
func (s *Service) relaunch(ctx context.Context, id string, req RelaunchRequest) (*job.Execution, error) {
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
	var solver string
	if len(req.Config) > 0 {
		if cfg, err = t.PrepareConfig(req.Config); err != nil {
			return nil, joinInvalid(nil, err)
		}
		// The new config chooses the solver again, as at submit.
		if solver, cfg, err = chooseSolver(t.Def, cfg, ""); err != nil {
			return nil, err
		}
	}
	res, err := s.store.Requeue(ctx, id, store.RequeueRequest{Mode: store.Relaunch, Attempt: e.Attempt, Config: cfg, Solver: solver,
		TraceParent: traceParent(ctx)}, nowUTC())
	if err != nil {
		return nil, err
	}
	if !res.Requeued {
		return nil, job.Errorf(job.CodeConflict, "execution %q changed while relaunching; try again", id)
	}
	if s.observed() {
		tr := s.transition(e, e.State, job.StateQueued, "relaunch")
		tr.Attempt = res.Attempt
		s.publish(tr)
	}
	if t.Def.Kind == job.KindSync {
		// Sync types relaunch on a worker like async ones: nobody waits
		// inside a request for them.
		s.cfg.Logger.Debug("solvekit: relaunching a sync job on the queue", "execution", id)
	}
	if _, err := s.queue.Enqueue(ctx, queue.Attempt{ID: id, Attempt: res.Attempt}, queue.EnqueueOptions{Queue: taskQueue(e), Timeout: e.Timeout}); err != nil {
		s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", id, "err", err)
	}
	return s.store.Get(ctx, id)
}

// Delete removes a finished execution with its data and logs.
func (s *Service) Delete(ctx context.Context, id string) error {
	return store.Classify(s.deleteExecution(ctx, id))
}

// DeleteFinishedBefore removes executions that finished before t and
// returns how many it removed. It works in batches of 500 and stops at
// ctx's end (returning ctx's error with the count so far), or when a batch
// removes nothing (what is left is being removed by someone else, or
// cannot be).
func (s *Service) DeleteFinishedBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		ids, err := s.store.FinishedBefore(ctx, t, 500)
		if err != nil {
			return n, store.Classify(err)
		}
		removed := 0
		for _, id := range ids {
			err := s.deleteExecution(ctx, id)
			if errors.Is(err, job.ErrNotFound) {
				continue
			}
			if err != nil {
				return n, store.Classify(err)
			}
			removed++
		}
		n += removed
		if removed == 0 {
			return n, nil
		}
	}
}

// Counts returns how many executions are in each state.
func (s *Service) Counts(ctx context.Context) (map[job.State]int64, error) {
	return s.store.CountByState(ctx)
}

// CheckJobKey reports whether key is the job key given at the submit of
// execution id (SubmitRequest.JobKey), comparing hashes in constant time.
// An execution without a job key, or an unknown one, matches no key.
func (s *Service) CheckJobKey(ctx context.Context, id, key string) (bool, error) {
	ok, err := s.store.CheckJobKey(ctx, id, key)
	return ok, store.Classify(err)
}
