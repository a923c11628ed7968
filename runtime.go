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

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// Causes of a job context's cancellation; they decide the terminal state.
var (
	errStopped    = errors.New("solvekit: execution stopped")
	errTimeLimit  = errors.New("solvekit: time limit reached")
	errSuperseded = errors.New("solvekit: attempt taken over by another worker")
	errShutdown   = errors.New("solvekit: worker shutting down")
	errClosed     = errors.New("solvekit: service closed")
)

// tracker tracks the attempts this process runs (sync jobs and worker
// jobs), keeps their heartbeats, receives cancel and done notifications,
// and wakes Wait callers.
type tracker struct {
	s *Service

	// ps carries the cancel channel and the done channels of executions
	// that have a Wait here; donePrefix is a done channel's name before
	// the id.
	ps         *redis.PubSub
	donePrefix string

	mu      sync.Mutex
	running map[string]*attemptRun
	// early holds the cancel notifications heard for executions that were
	// not running here, with when they came: an attempt registered just
	// after its cancel was heard (a cancel accepted between the worker's
	// Start and its registration) finds it there (see add).
	early map[string]time.Time

	// wmu guards the Wait side: waiters, pending and ops. It is never
	// held while a command is on the wire, and the attempts' side (mu)
	// never waits for it.
	wmu     sync.Mutex
	waiters map[string]*waitSub
	// pending counts SUBSCRIBE commands not yet confirmed, by channel.
	pending map[string]int
	// ops are the SUBSCRIBE and UNSUBSCRIBE commands to send, in the
	// order the waiters changed, consecutive ones of a kind in one
	// command. One goroutine at a time sends them (sending): a Wait that
	// queues a SUBSCRIBE sends it itself unless another is sending, and
	// subLoop (woken by kick) sends the UNSUBSCRIBEs.
	ops     []psOp
	sending bool
	kick    chan struct{}
	// psDone is set once subLoop has stopped (the service closes): new
	// waiters then poll.
	psDone bool
	// heard counts done notifications delivered to a Wait (for tests).
	heard atomic.Int64
	// cancelsHeard counts cancel notifications received (for tests).
	cancelsHeard atomic.Int64
}

// earlyCancelTTL is how long a cancel notification for an execution not
// running here is kept for an attempt that registers late.
const earlyCancelTTL = time.Minute

type attemptRun struct {
	attempt int
	cancel  context.CancelCauseFunc
}

func newTracker(ctx context.Context, s *Service) *tracker {
	return &tracker{
		s: s, running: map[string]*attemptRun{}, early: map[string]time.Time{}, waiters: map[string]*waitSub{}, pending: map[string]int{},
		kick:       make(chan struct{}, 1),
		ps:         s.rdb.Subscribe(ctx, s.store.CancelChannel(), s.store.ControlChannel()),
		donePrefix: s.store.DoneChannel(""),
	}
}

// add registers a running attempt, so that cancel notifications and the
// heartbeat reach it. A cancel notification heard for id before (the
// cancel was accepted once the record said running, but this process had
// not registered the attempt yet) is checked against the record's cancel
// flag, in one round trip that only such an attempt pays: the attempt is
// cancelled at once if the flag is set for it.
func (r *tracker) add(id string, a *attemptRun) {
	r.mu.Lock()
	r.running[id] = a
	_, heard := r.early[id]
	delete(r.early, id)
	r.mu.Unlock()
	if !heard {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The heartbeat script answers whether the cancel flag is set for this
	// attempt (a notification for an earlier attempt is not).
	toCancel, _, err := r.s.store.Heartbeat(ctx, r.s.workerID, []store.Running{{ID: id, Attempt: a.attempt}}, nowUTC())
	if err != nil {
		// The heartbeat loop checks the flag again, and the finish honours it.
		r.s.cfg.Logger.Warn("solvekit: could not check an early cancel", "execution", id, "err", err)
		return
	}
	for _, c := range toCancel {
		if c == id {
			a.cancel(errStopped)
		}
	}
}

// runs reports whether this process runs an attempt of id.
func (r *tracker) runs(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[id] != nil
}

func (r *tracker) remove(id string, a *attemptRun) {
	r.mu.Lock()
	if r.running[id] == a {
		delete(r.running, id)
	}
	r.mu.Unlock()
}

// cancel cancels the local attempt of id, if this process runs it. A stop
// for an attempt not registered here is remembered for a while, in case
// this process is about to register it (see add).
func (r *tracker) cancel(id string, cause error) {
	r.mu.Lock()
	a := r.running[id]
	if a == nil && errors.Is(cause, errStopped) {
		now := time.Now()
		for k, t := range r.early {
			if now.Sub(t) > earlyCancelTTL {
				delete(r.early, k)
			}
		}
		r.early[id] = now
	}
	r.mu.Unlock()
	if a != nil {
		a.cancel(cause)
	}
}

func (r *tracker) cancelAll(cause error) {
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
	// ready is closed once Redis has confirmed the subscription (ok set:
	// a terminal state written after that is sure to be heard) or the
	// SUBSCRIBE failed (ok unset: the Wait polls).
	ready   chan struct{}
	ok      bool
	settled bool
}

// settle closes ready once; under wmu.
func (w *waitSub) settle(ok bool) {
	if !w.settled {
		w.ok, w.settled = ok, true
		close(w.ready)
	}
}

// psOp is a SUBSCRIBE (sub, for w) or UNSUBSCRIBE of one channel.
type psOp struct {
	sub  bool
	name string
	w    *waitSub
}

// addWaiter registers a Wait on id and, when it is the first, queues the
// SUBSCRIBE to its done channel and sends it (see flush). It returns the
// channel that is signalled when the execution ends and the subscription
// (whose ready is closed once it is in place or has failed).
func (r *tracker) addWaiter(id string) (ch chan struct{}, w *waitSub) {
	ch = make(chan struct{}, 1)
	r.wmu.Lock()
	w = r.waiters[id]
	send := false
	if w == nil {
		w = &waitSub{ready: make(chan struct{})}
		r.waiters[id] = w
		if r.psDone {
			w.settle(false)
		} else {
			name := r.donePrefix + id
			r.pending[name]++
			r.ops = append(r.ops, psOp{sub: true, name: name, w: w})
			send = true
		}
	}
	w.chans = append(w.chans, ch)
	r.wmu.Unlock()
	if send {
		r.flush()
	}
	return ch, w
}

func (r *tracker) removeWaiter(id string, ch chan struct{}) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
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
		if !r.psDone {
			// Sent by subLoop: the Wait returns without waiting for it.
			r.ops = append(r.ops, psOp{name: r.donePrefix + id})
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	}
}

// flush sends the queued commands, in order, until none is left, unless
// another goroutine is sending (it sends them). No lock is held while a
// command is written, and under load one command carries the channels
// of many Waits.
func (r *tracker) flush() {
	r.wmu.Lock()
	if r.sending {
		r.wmu.Unlock()
		return
	}
	r.sending = true
	for len(r.ops) > 0 {
		ops := r.ops
		r.ops = nil
		r.wmu.Unlock()
		r.send(ops)
		r.wmu.Lock()
	}
	r.sending = false
	r.wmu.Unlock()
}

// subLoop sends the UNSUBSCRIBEs the Waits leave behind until the service
// closes; then new Waits poll.
func (r *tracker) subLoop() {
	for {
		select {
		case <-r.kick:
			r.flush()
		case <-r.s.closing.Done():
			r.wmu.Lock()
			r.psDone = true
			for _, op := range r.ops {
				if op.sub {
					op.w.settle(false)
				}
			}
			r.ops = nil
			r.wmu.Unlock()
			return
		}
	}
}

// send writes ops on the shared subscription, consecutive ones of a kind
// in one command. A SUBSCRIBE that fails (closed or broken) settles its
// Waits unsubscribed: they poll.
func (r *tracker) send(ops []psOp) {
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].sub == ops[i].sub {
			j++
		}
		names := make([]string, j-i)
		for k, op := range ops[i:j] {
			names[k] = op.name
		}
		if !ops[i].sub {
			_ = r.ps.Unsubscribe(context.Background(), names...)
		} else if err := r.ps.Subscribe(context.Background(), names...); err != nil {
			// Closed or broken: these Waits fall back to polling.
			r.wmu.Lock()
			for _, op := range ops[i:j] {
				if r.pending[op.name]--; r.pending[op.name] <= 0 {
					delete(r.pending, op.name)
				}
				op.w.settle(false)
			}
			r.wmu.Unlock()
		}
		i = j
	}
}

// subscribed handles Redis's confirmation of a SUBSCRIBE. Confirmations
// arrive in the order the commands were sent, so a channel's subscription
// is in place once as many confirmations came as commands went; counting
// them keeps an old subscribe's late answer from vouching for a new one.
// Resubscriptions after a reconnect find nothing pending and just confirm.
func (r *tracker) subscribed(name string) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
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
		w.settle(true)
	}
}

func (r *tracker) notifyDone(id string) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
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
func (r *tracker) listen() {
	cancelCh, controlCh := r.s.store.CancelChannel(), r.s.store.ControlChannel()
	for m := range r.ps.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.subscribed(m.Channel)
			}
		case *redis.Message:
			switch {
			case m.Channel == cancelCh:
				r.cancel(m.Payload, errStopped)
				r.cancelsHeard.Add(1)
			case m.Channel == controlCh:
				r.refreshPaused()
			default:
				if id, ok := strings.CutPrefix(m.Channel, r.donePrefix); ok {
					r.notifyDone(id)
				}
			}
		}
	}
}

// refreshPaused re-reads the paused job types (a control message said one
// changed, or the heartbeat's periodic check).
func (r *tracker) refreshPaused() {
	ctx, cancel := context.WithTimeout(r.s.closing, 5*time.Second)
	defer cancel()
	if err := r.s.refreshPaused(ctx); err != nil && ctx.Err() == nil {
		r.s.cfg.Logger.Warn("solvekit: reading paused job types failed", "err", err)
	}
}

// heartbeatLoop marks this process's attempts alive and cancels those whose
// cancel was requested (a fallback for a missed notification) or that were
// taken over.
func (r *tracker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(r.s.cfg.HeartbeatInterval)
	defer t.Stop()
	// last is when the running attempts' heartbeats were last written (or,
	// while none ran, the previous tick): the heartbeat lag is measured
	// from it, an upper bound of each attempt's heartbeat age.
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.refreshPaused()
		r.mu.Lock()
		runs := make([]store.Running, 0, len(r.running))
		for id, a := range r.running {
			runs = append(runs, store.Running{ID: id, Attempt: a.attempt})
		}
		r.mu.Unlock()
		if len(runs) == 0 {
			last = time.Now()
			continue
		}
		cancel, gone, err := r.s.store.Heartbeat(ctx, r.s.workerID, runs, nowUTC())
		if err != nil {
			if ctx.Err() == nil {
				r.s.cfg.Logger.Warn("solvekit: heartbeat failed", "err", err)
				if r.s.signalled() {
					r.s.signal(Signal{Kind: SignalHeartbeat, Outcome: HeartbeatFailed, Err: err,
						Duration: time.Since(last), Running: len(runs)})
				}
			}
			continue
		}
		now := time.Now()
		if r.s.signalled() {
			r.s.signal(Signal{Kind: SignalHeartbeat, Duration: now.Sub(last), Running: len(runs)})
		}
		last = now
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
	// cause is why the job's context had ended when the func returned
	// (or was abandoned), nil if it had not: a job that returned before
	// its deadline or a stop was not interrupted, whatever came after.
	cause error
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
		Logger:      logs.logger(),
		Reporter:    &reporter{s: s, t: t, id: e.ID, attempt: e.Attempt},
		TraceParent: e.TraceParent,
	}
	if e.Kind != job.KindSync {
		jc.QueuedAt = e.CreatedAt
		if e.RunAt != nil && e.RunAt.After(jc.QueuedAt) {
			jc.QueuedAt = *e.RunAt // scheduled until then: not waiting in a queue
		}
	}
	ctx = job.WithContext(ctx, jc)

	if e.Kind == job.KindSync {
		return s.runAside(ctx, t, e, jc, logs)
	}
	return s.runInline(ctx, t, e, jc, logs, task)
}

// callFunc runs the job's func (wrapped in Config.Middleware), turning a
// panic into a failed result.
func (s *Service) callFunc(ctx context.Context, t *registry.Type, jc *job.Context) (fr funcResult) {
	defer func() {
		if p := recover(); p != nil {
			fr = funcResult{err: fmt.Errorf("panic: %v", p), panicked: true, stack: string(debug.Stack())}
		}
		fr.cause = context.Cause(ctx)
	}()
	fr.value, fr.err = s.jobFunc(t)(ctx, jc)
	return fr
}

// abandoned is the result recorded for a job that did not return within
// StopGrace of being stopped (ctx is its context, ended).
func (s *Service) abandoned(ctx context.Context, jc *job.Context) funcResult {
	jc.Log().Warn("job abandoned after stop grace", "grace", s.cfg.StopGrace.String())
	return funcResult{err: fmt.Errorf("job did not return within %s of being stopped; abandoned", s.cfg.StopGrace),
		cause: context.Cause(ctx)}
}

// runAside runs a sync job's func on its own goroutine, so that the caller
// gets its answer StopGrace after a stop even from a job that ignores it.
func (s *Service) runAside(ctx context.Context, t *registry.Type, e *job.Execution, jc *job.Context, logs *logSink) job.State {
	done := make(chan funcResult, 1)
	go func() { done <- s.callFunc(ctx, t, jc) }()
	var fr funcResult
	select {
	case fr = <-done:
	case <-ctx.Done():
		grace := time.NewTimer(s.cfg.StopGrace)
		select {
		case fr = <-done:
		case <-grace.C:
			fr = s.abandoned(ctx, jc)
		}
		grace.Stop()
	}
	logs.close()
	return s.record(t, e, jc, fr, nil)
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
				fr := s.abandoned(ctx, jc)
				logs.close()
				// Not with the task: its handler has not returned, and
				// asynq completes it when it does.
				s.record(t, e, jc, fr, nil)
			}
		})
	})
	fr := s.callFunc(ctx, t, jc)
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
	return s.record(t, e, jc, fr, task)
}

// record turns a job's return into the attempt's end. A terminal end
// completes task too, when given (see queue.Completion); any other end
// leaves it to asynq.
//
// The state follows why the job's context had ended when the func returned
// (fr.cause): a stop makes it stopped, the attempt's deadline (the
// execution's Timeout, its hard time limit) timed_out, both keeping the
// last incumbent when no solution came back. A job that returned before
// either is not interrupted, whatever it reports: one whose own time limit
// (such as the config's time_limit, which solver.App applies) ended the
// search and that returns its incumbent with status time_limit succeeds
// with that status, as cornflow records it.
func (s *Service) record(t *registry.Type, e *job.Execution, jc *job.Context, fr funcResult, task *queue.Completion) job.State {
	bg := context.Background()
	cause := fr.cause
	switch {
	case errors.Is(cause, errSuperseded):
		return "" // another attempt owns the execution now
	case errors.Is(cause, errShutdown) || errors.Is(cause, errClosed):
		s.requeue(bg, e, store.Retry, "shutdown", &job.ErrorInfo{Kind: "error", Message: "worker shut down during the attempt"}, 0)
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
	timedOut := errors.Is(cause, errTimeLimit)

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
			if je := (*job.Error)(nil); errors.As(f, &je) {
				out.Error.Violations = je.Violations // job.FailWith(&job.Error{...}), or input that does not decode (job.DecodeInstance)
			}
			break
		}
		info := &job.ErrorInfo{Kind: "error", Message: fr.err.Error()}
		var je *job.Error
		if errors.As(fr.err, &je) {
			info.Violations = je.Violations
		}
		if e.Kind != job.KindSync && e.Retries < e.MaxRetries {
			s.requeue(bg, e, store.Retry, "retry", info, s.cfg.RetryDelay(e.Retries+1))
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
	// The attempt stays registered (and its heartbeat goes on) while the
	// finish is retried: a Redis blip must not make a finished job run
	// again. The finish script is guarded, so a send that ran although its
	// reply was lost makes the next one a no-op.
	var ok bool
	err := s.retryWrite(bg, "recording the end of an attempt", e, func() (err error) {
		ok, err = s.store.Finish(bg, e.ID, e.Attempt, out, now)
		return err
	})
	if out.Task != nil && out.Task.Completed {
		task.Completed()
	}
	if err != nil {
		s.cfg.Logger.Error("solvekit: could not record the end of an attempt", "execution", e.ID, "attempt", e.Attempt, "err", err)
		s.unrecorded(e, out, err)
		return ""
	}
	if !ok {
		return ""
	}
	s.publishFinish(e, out)
	return out.State
}

// publishFinish tells subscribers of the end of attempt e recorded as out.
func (s *Service) publishFinish(e *job.Execution, out store.Outcome) {
	if e.Metadata[ExperimentLabel] != "" {
		s.nudgeExperiments()
	}
	if s.observed() {
		tr := s.transition(e, job.StateRunning, out.State, "finish")
		tr.SolverStatus, tr.Error = out.SolverStatus, out.Error
		s.publish(tr)
	}
}

// unrecorded handles an attempt whose end could not be written within
// recordRetry: it is requeued as a retry while the execution has retries
// left, else failed with the reason. If that cannot be written either, the
// attempt's heartbeat stops when it returns and the sweeper requeues it.
func (s *Service) unrecorded(e *job.Execution, out store.Outcome, err error) {
	info := &job.ErrorInfo{Kind: "error", Message: "the attempt's result could not be recorded: " + err.Error()}
	if e.Kind != job.KindSync && e.Retries < e.MaxRetries {
		s.requeue(context.Background(), e, store.Retry, "retry", info, s.cfg.RetryDelay(e.Retries+1))
		return
	}
	fail := store.Outcome{State: job.StateFailed, SolverStatus: job.StatusNotSolved, Error: info, Incumbent: out.Incumbent}
	ok, err := s.store.Finish(context.Background(), e.ID, e.Attempt, fail, nowUTC())
	if err != nil {
		s.cfg.Logger.Error("solvekit: could not record the failure of an attempt", "execution", e.ID, "attempt", e.Attempt, "err", err)
	} else if ok {
		s.publishFinish(e, fail)
	}
}

// recordRetry paces and bounds the retries of a write that records an
// attempt's start or end when Redis cannot be reached or fails (a blip, a
// failover, a restart): the first retry after First, then twice as late
// each time up to Max apart, for at most Within in all.
var recordRetry = struct{ First, Max, Within time.Duration }{50 * time.Millisecond, 2 * time.Second, 30 * time.Second}

// retryWrite runs write until it succeeds, ctx ends, the Redis client is
// closed, or recordRetry.Within has passed; it returns the last error.
func (s *Service) retryWrite(ctx context.Context, what string, e *job.Execution, write func() error) error {
	err := write()
	if err == nil {
		return nil
	}
	s.cfg.Logger.Warn("solvekit: "+what+" failed; retrying", "execution", e.ID, "attempt", e.Attempt, "err", err)
	deadline := time.Now().Add(recordRetry.Within)
	wait := recordRetry.First
	for err != nil && !errors.Is(err, redis.ErrClosed) && ctx.Err() == nil && time.Now().Add(wait).Before(deadline) {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, recordRetry.Max)
		err = write()
	}
	return err
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
// The write is retried as a finish is (retryWrite).
// reason is the Transition's Reason ("retry" or "shutdown").
func (s *Service) requeue(ctx context.Context, e *job.Execution, mode store.RequeueMode, reason string, info *job.ErrorInfo, delay time.Duration) {
	var res store.RequeueResult
	err := s.retryWrite(ctx, "requeueing an attempt", e, func() (err error) {
		res, err = s.store.Requeue(ctx, e.ID, store.RequeueRequest{Mode: mode, Attempt: e.Attempt, Error: info}, nowUTC())
		return err
	})
	if err != nil {
		s.cfg.Logger.Error("solvekit: requeue failed", "execution", e.ID, "err", err)
		return
	}
	if s.observed() && (res.Requeued || res.Ended) {
		tr := s.transition(e, job.StateRunning, res.State, reason)
		tr.Attempt, tr.Error = res.Attempt, info
		s.publish(tr)
	}
	if res.Requeued {
		s.enqueue(ctx, e.ID, res.Attempt, taskQueue(e), e.Timeout, delay)
	}
}

func (s *Service) enqueue(ctx context.Context, id string, attempt int, q string, timeout, delay time.Duration) {
	if _, err := s.queue.Enqueue(ctx, queueAttempt(id, attempt), queueOpts(q, timeout, delay)); err != nil {
		s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", id, "err", err)
	}
}

// runSync records and runs a sync job inside the caller.
func (s *Service) runSync(ctx context.Context, t *registry.Type, e *job.Execution, input json.RawMessage, req SubmitRequest) (*job.Execution, error) {
	now := nowUTC()
	e.State, e.StartedAt, e.Worker = job.StateRunning, &now, s.workerID
	if err := s.create(ctx, req, e, input, nil); err != nil {
		return nil, err
	}
	if s.observed() {
		s.publish(s.transition(e, "", job.StateRunning, "submit"))
	}
	s.execute(ctx, t, e, input, nil)
	out, err := s.store.Get(context.WithoutCancel(ctx), e.ID)
	if err != nil && !errors.Is(err, job.ErrNotFound) {
		// It was created and ran: an error must not read as "not stored".
		return nil, &job.Error{Code: job.CodeOutcomeUnknown, Message: "the execution ran but its record could not be read back", Err: err}
	}
	return out, err
}
