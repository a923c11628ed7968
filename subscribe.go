package solvekit

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// Transition is one state change of an execution, as Subscribe delivers
// it.
type Transition struct {
	// ID names the execution; JobType and Queue are its job type and queue.
	ID, JobType, Queue string
	// From and To are the states before and after. From is "" for a new
	// execution, and job.StateLost for an attempt whose worker stopped
	// sending heartbeats (the sweeper requeues it, or ends it). On a
	// finish, To is the end the attempt recorded; in the rare race where a
	// cancel is accepted after the job returned but before its end was
	// written, Redis keeps stopped instead (Get and Follow tell).
	From, To job.State
	// Attempt is the execution's attempt after the change (a requeue or a
	// relaunch starts a new one).
	Attempt int
	// Reason says what made the change: "submit" (to queued, or to
	// scheduled with a run time), "due" (a scheduled execution queued at
	// its time), "start", "finish", "retry" (an error with retries left),
	// "shutdown" (a worker stopping mid-attempt), "lost", "cancel" (a
	// queued or scheduled execution stopped) or "relaunch".
	Reason string
	// SolverStatus is the solver's verdict, on a transition a finish
	// recorded (Reason "finish").
	SolverStatus job.SolverStatus
	// Error is what went wrong, on a transition to failed and on a retry.
	Error *job.ErrorInfo
	// Worker is the WorkerID of the process that made the change.
	Worker string
	// At is when this process recorded the change.
	At time.Time
	// CreatedAt is when the execution was submitted; StartedAt, when known
	// (from a start on), when its current attempt started. Their gaps to
	// At are the queue wait and the run time that metrics observe.
	CreatedAt time.Time
	StartedAt *time.Time
	// RunAt, for an execution submitted to run later (SubmitRequest.RunAt
	// or a schedule's tick), is when it was due: its queue wait starts
	// there, not at CreatedAt.
	RunAt *time.Time
}

// hooks holds the Service's extension points: the job funcs wrapped in
// Config.Middleware, and the subscribers of Subscribe.
type hooks struct {
	// funcs maps a job Definition to its func wrapped in the middleware.
	funcs sync.Map
	// subs are the callbacks of Subscribe.
	subs subscribers[Transition]
	// announcing maps the id of an execution whose submit is being
	// published to a channel closed once it is (see announcing).
	announcing sync.Map
}

// subscribers is a list of callbacks (Subscribe's, SubscribeSignals'),
// replaced, never changed, on each add and remove, so that delivering
// only loads it.
type subscribers[T any] struct {
	mu   sync.Mutex // serialises changes of list
	list atomic.Pointer[[]*func(T)]
}

// add appends fn and returns the func that removes it (once).
func (l *subscribers[T]) add(fn func(T)) (remove func()) {
	p := &fn
	l.mu.Lock()
	list := append([]*func(T){}, l.load()...)
	list = append(list, p)
	l.list.Store(&list)
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			old := l.load()
			list := make([]*func(T), 0, len(old))
			for _, o := range old {
				if o != p {
					list = append(list, o)
				}
			}
			l.list.Store(&list)
		})
	}
}

// load returns the current callbacks.
func (l *subscribers[T]) load() []*func(T) {
	if p := l.list.Load(); p != nil {
		return *p
	}
	return nil
}

// announceWait bounds how long a start waits for its submit to be
// published (the submitter reads the create script's reply, which a slow
// or broken connection can delay): past it the start is published anyway.
const announceWait = 10 * time.Second

// announcing marks execution id as being submitted, when anyone
// subscribed: a worker of this process that starts it waits (awaitAnnounced)
// until the returned func is called, so subscribers see the submit before
// the start. It returns nil, and costs one atomic load, when nobody
// subscribed.
func (s *Service) announcing(id string) (done func()) {
	if !s.observed() {
		return nil
	}
	ch := make(chan struct{})
	s.hooks.announcing.Store(id, ch)
	return func() {
		s.hooks.announcing.Delete(id)
		close(ch)
	}
}

// awaitAnnounced waits until the submit of execution id, if this process is
// still publishing it, has been published.
func (s *Service) awaitAnnounced(id string) {
	v, ok := s.hooks.announcing.Load(id)
	if !ok {
		return
	}
	t := time.NewTimer(announceWait)
	defer t.Stop()
	select {
	case <-v.(chan struct{}):
	case <-t.C:
	}
}

// jobFunc returns t's func wrapped in Config.Middleware, building the chain
// at the type's first run.
func (s *Service) jobFunc(t *registry.Type) job.Func {
	if len(s.cfg.Middleware) == 0 {
		return t.Def.Func
	}
	if fn, ok := s.hooks.funcs.Load(t.Def); ok {
		return fn.(job.Func)
	}
	fn, _ := s.hooks.funcs.LoadOrStore(t.Def, job.Chain(t.Def.Func, s.cfg.Middleware...))
	return fn.(job.Func)
}

// Subscribe calls fn with every state change of an execution that this
// process records: a submit (to queued, or to running for a sync job), a
// worker's start (queued to running), an attempt's end (running to a
// terminal state), a requeue (running to queued for a retry or a worker's
// shutdown, lost to queued when the sweeper of this process requeues a
// dead worker's attempt), a cancel of a queued execution (queued to
// stopped) and a relaunch (terminal to queued). It returns a function that
// ends the subscription; calls already under way may still finish after it
// returns.
//
// Subscribe is process-local: a change recorded by another process (another
// replica's worker, or a cancel through it) is delivered there, not here. To
// see every change of one execution across processes, use Follow. Metrics,
// tracing and callbacks subscribe in every process that runs Work or takes
// submits.
//
// fn runs synchronously, on the goroutine that made the change, just after
// it was recorded in Redis, and in the order the changes were made for one
// execution. It must not block: hand slow work to a goroutine or a buffered
// channel of your own. A panic in fn is recovered and logged; the job is
// not affected. With no subscriber, publishing costs one atomic load.
//
//	unsubscribe := svc.Subscribe(func(tr solvekit.Transition) {
//		if tr.To.Terminal() {
//			finished.WithLabelValues(tr.JobType, string(tr.To)).Inc()
//		}
//	})
//	defer unsubscribe()
func (s *Service) Subscribe(fn func(Transition)) (unsubscribe func()) {
	return s.hooks.subs.add(fn)
}

// observed reports whether anyone subscribed: callers build a Transition
// only then.
func (s *Service) observed() bool { return len(s.hooks.subs.load()) > 0 }

// transition starts the Transition of execution e from one state to
// another.
func (s *Service) transition(e *job.Execution, from, to job.State, reason string) Transition {
	return Transition{ID: e.ID, JobType: e.JobType, Queue: e.Queue, From: from, To: to, Attempt: e.Attempt,
		Reason: reason, Worker: s.workerID, At: nowUTC(), CreatedAt: e.CreatedAt, StartedAt: e.StartedAt, RunAt: e.RunAt}
}

// publish hands tr to every subscriber, recovering their panics.
func (s *Service) publish(tr Transition) {
	for _, fn := range s.hooks.subs.load() {
		s.deliver(*fn, tr)
	}
}

func (s *Service) deliver(fn func(Transition), tr Transition) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("solvekit: a Subscribe callback panicked", "execution", tr.ID,
				"from", string(tr.From), "to", string(tr.To), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn(tr)
}
