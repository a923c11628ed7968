package solvekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
	"github.com/solvekit/solvekit/store"
	"github.com/solvekit/solvekit/transport/queue"
)

// Causes of a job context's cancellation; they decide the terminal state.
var (
	errStopped    = errors.New("solvekit: execution stopped")
	errTimeLimit  = errors.New("solvekit: time limit reached")
	errSuperseded = errors.New("solvekit: attempt taken over by another worker")
	errShutdown   = errors.New("solvekit: worker shutting down")
	errClosed     = errors.New("solvekit: service closed")
)

// runtime_ tracks the attempts this process runs (sync jobs and worker
// jobs), keeps their heartbeats, receives cancel and done notifications,
// and wakes Wait callers.
type runtime_ struct {
	s *Service

	// ps carries the cancel channel and the done channels of executions
	// that have a Wait here; donePrefix is a done channel's name before
	// the id.
	ps         *redis.PubSub
	donePrefix string

	mu      sync.Mutex
	running map[string]*attemptRun
	waiters map[string]*waitSub
	// pending counts SUBSCRIBE commands not yet confirmed, by channel.
	pending map[string]int
	// heard counts done notifications delivered to a Wait (for tests).
	heard atomic.Int64
}

type attemptRun struct {
	attempt int
	cancel  context.CancelCauseFunc
}

func newRuntime(ctx context.Context, s *Service) *runtime_ {
	return &runtime_{
		s: s, running: map[string]*attemptRun{}, waiters: map[string]*waitSub{}, pending: map[string]int{},
		ps:         s.rdb.Subscribe(ctx, s.store.CancelChannel()),
		donePrefix: s.store.DoneChannel(""),
	}
}

func (r *runtime_) add(id string, a *attemptRun) {
	r.mu.Lock()
	r.running[id] = a
	r.mu.Unlock()
}

func (r *runtime_) remove(id string, a *attemptRun) {
	r.mu.Lock()
	if r.running[id] == a {
		delete(r.running, id)
	}
	r.mu.Unlock()
}

// cancel cancels the local attempt of id, if this process runs it.
func (r *runtime_) cancel(id string, cause error) {
	r.mu.Lock()
	a := r.running[id]
	r.mu.Unlock()
	if a != nil {
		a.cancel(cause)
	}
}

func (r *runtime_) cancelAll(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.running {
		a.cancel(cause)
	}
}

// waitSub is this process's subscription to one execution's done channel,
// shared by every Wait on that execution.
type waitSub struct {
	chans []chan struct{}
	// ready is closed once Redis has confirmed the subscription: a
	// terminal state written after that is sure to be heard.
	ready chan struct{}
}

// addWaiter registers a Wait on id and subscribes to its done channel when
// it is the first. It returns the channel that is signalled when the
// execution ends and the one closed when the subscription is in place.
func (r *runtime_) addWaiter(ctx context.Context, id string) (ch, ready chan struct{}) {
	ch = make(chan struct{}, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waiters[id]
	if w == nil {
		w = &waitSub{ready: make(chan struct{})}
		r.waiters[id] = w
		name := r.s.store.DoneChannel(id)
		r.pending[name]++
		if err := r.ps.Subscribe(ctx, name); err != nil {
			// Closed or broken: Wait falls back to polling.
			r.pending[name]--
			close(w.ready)
		}
	}
	w.chans = append(w.chans, ch)
	return ch, w.ready
}

func (r *runtime_) removeWaiter(id string, ch chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waiters[id]
	if w == nil {
		return
	}
	for i, c := range w.chans {
		if c == ch {
			w.chans = append(w.chans[:i], w.chans[i+1:]...)
			break
		}
	}
	if len(w.chans) == 0 {
		delete(r.waiters, id)
		_ = r.ps.Unsubscribe(context.Background(), r.s.store.DoneChannel(id))
	}
}

// subscribed handles Redis's confirmation of a SUBSCRIBE. Confirmations
// arrive in the order the commands were sent, so a channel's subscription
// is in place once as many confirmations came as commands went; counting
// them keeps an old subscribe's late answer from vouching for a new one.
// Resubscriptions after a reconnect find nothing pending and just confirm.
func (r *runtime_) subscribed(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[name] > 1 {
		r.pending[name]--
		return
	}
	delete(r.pending, name)
	id, ok := strings.CutPrefix(name, r.donePrefix)
	if !ok {
		return
	}
	if w := r.waiters[id]; w != nil {
		select {
		case <-w.ready:
		default:
			close(w.ready)
		}
	}
}

func (r *runtime_) notifyDone(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waiters[id]
	if w == nil {
		return
	}
	r.heard.Add(1)
	for _, ch := range w.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// listen receives cancel requests from every process, and the terminal
// notifications of the executions this process waits for, until the
// subscription is closed.
func (r *runtime_) listen() {
	cancelCh := r.s.store.CancelChannel()
	for m := range r.ps.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.subscribed(m.Channel)
			}
		case *redis.Message:
			if m.Channel == cancelCh {
				r.cancel(m.Payload, errStopped)
			} else if id, ok := strings.CutPrefix(m.Channel, r.donePrefix); ok {
				r.notifyDone(id)
			}
		}
	}
}

// heartbeatLoop marks this process's attempts alive and cancels those whose
// cancel was requested (a fallback for a missed notification) or that were
// taken over.
func (r *runtime_) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(r.s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		runs := make([]store.Running, 0, len(r.running))
		for id, a := range r.running {
			runs = append(runs, store.Running{ID: id, Attempt: a.attempt})
		}
		r.mu.Unlock()
		cancel, gone, err := r.s.store.Heartbeat(ctx, r.s.workerID, runs, nowUTC())
		if err != nil {
			if ctx.Err() == nil {
				r.s.cfg.Logger.Warn("solvekit: heartbeat failed", "err", err)
			}
			continue
		}
		for _, id := range cancel {
			r.cancel(id, errStopped)
		}
		for _, id := range gone {
			r.cancel(id, errSuperseded)
		}
	}
}

// reporter stores a running attempt's progress and incumbents.
type reporter struct {
	s       *Service
	t       *registry.Type
	id      string
	attempt int

	mu       sync.Mutex
	lastProg time.Time
	// published is set once an incumbent write was attempted, so that the
	// finish deletes the incumbent key even if that write's answer was lost.
	published atomic.Bool
}

func (p *reporter) Progress(fraction float64, msg string) {
	p.mu.Lock()
	now := time.Now()
	if fraction < 1 && now.Sub(p.lastProg) < 100*time.Millisecond {
		p.mu.Unlock()
		return // throttled: at most ten progress writes a second
	}
	p.lastProg = now
	p.mu.Unlock()
	if err := p.s.store.Progress(context.Background(), p.id, p.attempt, fraction, msg); err != nil {
		p.s.cfg.Logger.Warn("solvekit: progress not stored", "execution", p.id, "err", err)
	}
}

func (p *reporter) Incumbent(sol json.RawMessage, objective *float64) error {
	if err := p.t.ValidateSolution(sol); err != nil {
		return fmt.Errorf("incumbent refused: %w", err)
	}
	p.published.Store(true)
	return p.s.store.SetIncumbent(context.Background(), p.id, p.attempt, sol, objective)
}

// outcome of running a job's Func.
type funcResult struct {
	value    any
	err      error
	panicked bool
	stack    string
}

// execute runs one attempt that is already marked running and records its
// end: a terminal state, or a new attempt for a retry or a shutdown. It
// returns the terminal state written ("" if none).
//
// task is the attempt's queue task when a worker runs it: a normal end then
// completes the task in the same script (store.TaskDone).
func (s *Service) execute(parent context.Context, t *registry.Type, e *job.Execution, input json.RawMessage, task *queue.Completion) job.State {
	jobCtx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	defer cancel(nil)
	// A parent that ends (sync caller gone, worker shutting down) cancels
	// the job with the matching cause.
	stopParent := context.AfterFunc(parent, func() {
		cause := context.Cause(parent)
		if !errors.Is(cause, errShutdown) {
			cause = errStopped
		}
		cancel(cause)
	})
	defer stopParent()
	run := &attemptRun{attempt: e.Attempt, cancel: cancel}
	s.rt.add(e.ID, run)
	defer s.rt.remove(e.ID, run)

	ctx := jobCtx
	if e.Timeout > 0 {
		start := nowUTC()
		if e.StartedAt != nil {
			start = *e.StartedAt
		}
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadlineCause(jobCtx, start.Add(e.Timeout), errTimeLimit)
		defer c2()
	}
	logs := newLogSink(s, e.ID, e.Attempt)
	jc := &job.Context{
		ExecutionID: e.ID, Attempt: e.Attempt, JobType: e.JobType, Solver: e.Solver,
		Instance: input, Config: e.Config, Metadata: e.Metadata,
		Logger:   logs.logger(),
		Reporter: &reporter{s: s, t: t, id: e.ID, attempt: e.Attempt},
	}
	ctx = job.WithContext(ctx, jc)

	if e.Kind == job.KindSync {
		return s.runAside(ctx, t, e, jc, logs)
	}
	return s.runInline(ctx, t, e, jc, logs, task)
}

// callFunc runs the job's func, turning a panic into a failed result.
func callFunc(ctx context.Context, t *registry.Type, jc *job.Context) (fr funcResult) {
	defer func() {
		if p := recover(); p != nil {
			fr = funcResult{err: fmt.Errorf("panic: %v", p), panicked: true, stack: string(debug.Stack())}
		}
	}()
	fr.value, fr.err = t.Def.Func(ctx, jc)
	return fr
}

// abandoned is the result recorded for a job that did not return within
// StopGrace of being stopped.
func (s *Service) abandoned(jc *job.Context) funcResult {
	jc.Log().Warn("job abandoned after stop grace", "grace", s.cfg.StopGrace.String())
	return funcResult{err: fmt.Errorf("job did not return within %s of being stopped; abandoned", s.cfg.StopGrace)}
}

// runAside runs a sync job's func on its own goroutine, so that the caller
// gets its answer StopGrace after a stop even from a job that ignores it.
func (s *Service) runAside(ctx context.Context, t *registry.Type, e *job.Execution, jc *job.Context, logs *logSink) job.State {
	done := make(chan funcResult, 1)
	go func() { done <- callFunc(ctx, t, jc) }()
	var fr funcResult
	select {
	case fr = <-done:
	case <-ctx.Done():
		grace := time.NewTimer(s.cfg.StopGrace)
		select {
		case fr = <-done:
		case <-grace.C:
			fr = s.abandoned(jc)
		}
		grace.Stop()
	}
	logs.close()
	return s.record(t, e, jc, ctx, fr, nil)
}

// runInline runs a worker attempt's func on the worker's own goroutine: a
// short job then costs no extra goroutine nor hand-off. A job that does not
// return within StopGrace of being stopped is recorded as abandoned by a
// timer instead; its worker slot stays taken until the func returns, which
// keeps the worker's concurrency honest about the CPU the job still uses.
// Exactly one of the two records the attempt's end.
func (s *Service) runInline(ctx context.Context, t *registry.Type, e *job.Execution, jc *job.Context, logs *logSink, task *queue.Completion) job.State {
	var (
		claimed  atomic.Bool // set by whichever records the end
		mu       sync.Mutex
		returned bool
		grace    *time.Timer
	)
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			return
		}
		grace = time.AfterFunc(s.cfg.StopGrace, func() {
			if claimed.CompareAndSwap(false, true) {
				fr := s.abandoned(jc)
				logs.close()
				// Not with the task: its handler has not returned, and
				// asynq completes it when it does.
				s.record(t, e, jc, ctx, fr, nil)
			}
		})
	})
	fr := callFunc(ctx, t, jc)
	mu.Lock()
	returned = true
	if grace != nil {
		grace.Stop()
	}
	mu.Unlock()
	stopWatch()
	if !claimed.CompareAndSwap(false, true) {
		return "" // abandoned and recorded meanwhile
	}
	logs.close()
	return s.record(t, e, jc, ctx, fr, task)
}

// record turns a job's return into the attempt's end. A terminal end
// completes task too, when given (see queue.Completion); any other end
// leaves it to asynq.
func (s *Service) record(t *registry.Type, e *job.Execution, jc *job.Context, ctx context.Context, fr funcResult, task *queue.Completion) job.State {
	bg := context.Background()
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errSuperseded):
		return "" // another attempt owns the execution now
	case errors.Is(cause, errShutdown) || errors.Is(cause, errClosed):
		s.requeue(bg, e, store.Retry, &job.ErrorInfo{Kind: "error", Message: "worker shut down during the attempt"}, 0)
		return ""
	}
	res := asResult(fr.value)
	inc, incObj := jc.LastIncumbent()
	out := store.Outcome{SolverStatus: res.Status, Objective: res.Objective, BestBound: res.BestBound,
		Gap: res.Gap, Stats: res.Stats, Checks: res.Checks, KPIs: res.KPIs, SolverLog: res.SolverLog}
	if r, ok := jc.Reporter.(*reporter); ok {
		out.Incumbent = r.published.Load()
	}

	stopped := errors.Is(cause, errStopped)
	timedOut := errors.Is(cause, errTimeLimit) || (!stopped && fr.err == nil && res.Status == job.StatusTimeLimit)

	// The solution: what the job returned, else (when interrupted) its last incumbent.
	var sol json.RawMessage
	var solErr error
	if res.Solution != nil && !fr.panicked {
		b, err := json.Marshal(res.Solution)
		if err != nil {
			solErr = fmt.Errorf("solution does not encode: %w", err)
		} else if err := t.ValidateSolution(b); err != nil {
			solErr = err
		} else {
			sol = b
		}
	}
	interrupted := stopped || timedOut
	if sol == nil && interrupted && inc != nil {
		sol = inc
		if out.Objective == nil {
			out.Objective = incObj
		}
	}

	switch {
	case fr.panicked:
		out.State = job.StateFailed
		out.Error = &job.ErrorInfo{Kind: "panic", Message: fr.err.Error(), Stack: fr.stack}
	case interrupted:
		out.State = job.StateStopped
		if timedOut {
			out.State = job.StateTimedOut
		}
		if solErr != nil {
			jc.Log().Warn("returned solution refused; keeping the last incumbent", "err", solErr.Error())
		}
	case fr.err != nil:
		var f *job.Failure
		if errors.As(fr.err, &f) {
			out.State = job.StateFailed
			out.Error = &job.ErrorInfo{Kind: "failure", Message: f.Message, Details: f.Details}
			break
		}
		info := &job.ErrorInfo{Kind: "error", Message: fr.err.Error()}
		var je *job.Error
		if errors.As(fr.err, &je) {
			info.Violations = je.Violations
		}
		if e.Kind != job.KindSync && e.Retries < e.MaxRetries {
			s.requeue(bg, e, store.Retry, info, s.cfg.RetryDelay(e.Retries+1))
			return ""
		}
		out.State = job.StateFailed
		out.Error = info
	case solErr != nil:
		out.State = job.StateFailed
		out.Error = &job.ErrorInfo{Kind: "invalid_solution", Message: solErr.Error()}
		var je *job.Error
		if errors.As(solErr, &je) {
			out.Error.Violations = je.Violations
		}
	default:
		out.State = job.StateSucceeded
	}
	if out.State == job.StateFailed {
		sol = nil
	}
	out.Solution = sol
	if out.SolverStatus == "" {
		switch out.State {
		case job.StateSucceeded:
			out.SolverStatus = job.StatusOptimal
		case job.StateTimedOut:
			out.SolverStatus = job.StatusTimeLimit
		case job.StateStopped:
			out.SolverStatus = job.StatusNotSolved
			if sol != nil {
				out.SolverStatus = job.StatusFeasible
			}
		default:
			out.SolverStatus = job.StatusNotSolved
		}
	}
	now := nowUTC()
	if task != nil && s.fused {
		out.Task = task.Task(now)
	}
	ok, err := s.store.Finish(bg, e.ID, e.Attempt, out, now)
	if out.Task != nil && out.Task.Completed {
		task.Completed()
	}
	if err != nil {
		// The heartbeat stops with this attempt, so the sweeper requeues it.
		s.cfg.Logger.Error("solvekit: could not record the end of an attempt", "execution", e.ID, "attempt", e.Attempt, "err", err)
		return ""
	}
	if !ok {
		return ""
	}
	return out.State
}

func asResult(v any) job.Result {
	switch r := v.(type) {
	case job.Result:
		return r
	case *job.Result:
		if r == nil {
			return job.Result{}
		}
		return *r
	}
	return job.Result{Solution: v}
}

// requeue starts a new attempt after a retry or shutdown and enqueues it.
func (s *Service) requeue(ctx context.Context, e *job.Execution, mode store.RequeueMode, info *job.ErrorInfo, delay time.Duration) {
	res, err := s.store.Requeue(ctx, e.ID, store.RequeueRequest{Mode: mode, Attempt: e.Attempt, Error: info}, nowUTC())
	if err != nil {
		s.cfg.Logger.Error("solvekit: requeue failed", "execution", e.ID, "err", err)
		return
	}
	if res.Requeued {
		s.enqueue(ctx, e.ID, res.Attempt, e.Queue, e.Timeout, delay)
	}
}

func (s *Service) enqueue(ctx context.Context, id string, attempt int, q string, timeout, delay time.Duration) {
	if _, err := s.queue.Enqueue(ctx, queueAttempt(id, attempt), queueOpts(q, timeout, delay)); err != nil {
		s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", id, "err", err)
	}
}

// runSync records and runs a sync job inside the caller.
func (s *Service) runSync(ctx context.Context, t *registry.Type, e *job.Execution, input json.RawMessage) (*job.Execution, error) {
	now := nowUTC()
	e.State, e.StartedAt, e.Worker = job.StateRunning, &now, s.workerID
	if err := s.store.CreateNew(ctx, e, input, nil); err != nil {
		return nil, err
	}
	s.execute(ctx, t, e, input, nil)
	return s.store.Get(context.WithoutCancel(ctx), e.ID)
}
