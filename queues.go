package solvekit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// QueueNames returns, sorted, the queues this configuration's workers serve:
// the keys of Config.Queues ({"default"} when it is empty) and the queue
// of every registered job type. These are the only queues a
// SubmitRequest may name: a task put anywhere else would stay queued
// forever.
func (s *Service) QueueNames() []string {
	set := map[string]bool{}
	for q := range s.cfg.Queues {
		set[q] = true
	}
	if len(set) == 0 {
		set["default"] = true
	}
	for _, t := range s.reg.List() {
		set[t.Def.QueueName()] = true
	}
	out := make([]string, 0, len(set))
	for q := range set {
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

// checkQueue refuses a queue no worker of this configuration serves.
func (s *Service) checkQueue(q string) error {
	known := s.QueueNames()
	if slices.Contains(known, q) {
		return nil
	}
	return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("unknown queue %q (configured: %s)", q, strings.Join(known, ", ")),
		Violations: []job.Violation{{Pointer: "/queue", Keyword: "enum", Message: "one of the configured queues: " + strings.Join(known, ", ")}}}
}

// QueueInfo is one queue's counts and state.
type QueueInfo struct {
	// Name is the queue's name (see Config.Queues).
	Name string
	// Size is the number of tasks in the queue, in any of the states below.
	Size int
	// Pending, Active, Scheduled, Retry, Archived and Completed count the
	// queue's tasks by state: waiting to run, running, delayed, waiting
	// for a retry, given up on, and finished and kept for a while.
	Pending, Active, Scheduled, Retry, Archived, Completed int
	// Latency is how long the oldest pending task has waited.
	Latency time.Duration
	// Paused reports whether workers have stopped taking the queue's tasks.
	Paused bool
}

// WorkerInfo is one running Work call (a worker process, or one of them).
type WorkerInfo struct {
	// ID names the worker.
	ID string
	// Host and PID locate its process.
	Host string
	PID  int
	// Concurrency is how many attempts it runs at once; Active how many it
	// runs now.
	Concurrency, Active int
	// Queues maps the queues it serves to their weights.
	Queues map[string]int
	// Executions are the ids of the executions it runs (one per attempt),
	// sorted, as of its last heartbeat to asynq (every 5 s): the way to
	// tell which worker runs an execution, whatever Config.WorkerID says.
	// Active counts them.
	Executions []string
	// Status is "active", "stopped" or "closed".
	Status string
	// StartedAt is when the worker started.
	StartedAt time.Time
}

func queueInfo(qi *asynq.QueueInfo) *QueueInfo {
	return &QueueInfo{Name: qi.Queue, Size: qi.Size, Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled,
		Retry: qi.Retry, Archived: qi.Archived, Completed: qi.Completed, Latency: qi.Latency, Paused: qi.Paused}
}

// Queues returns the counts of every queue: the ones this configuration
// serves (QueueNames) and any other that holds tasks, sorted by name.
func (s *Service) Queues(ctx context.Context) ([]*QueueInfo, error) {
	in := s.queue.Inspector()
	names, err := in.Queues()
	if err != nil {
		return nil, store.Classify(err)
	}
	// asynq knows a queue once it held a task; its GetQueueInfo answers an
	// error of its internal package (not ErrQueueNotFound) for any other,
	// which is listed with zero counts and its pause state.
	var fresh []string
	for _, q := range s.QueueNames() {
		if !slices.Contains(names, q) {
			fresh = append(fresh, q)
		}
	}
	paused, _, err := s.queue.Paused(ctx, fresh)
	if err != nil {
		return nil, store.Classify(err)
	}
	out := make([]*QueueInfo, 0, len(names)+len(fresh))
	for i, n := range fresh {
		out = append(out, &QueueInfo{Name: n, Paused: paused[i]})
	}
	for _, n := range names {
		qi, err := in.GetQueueInfo(n)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			out = append(out, &QueueInfo{Name: n})
			continue
		}
		if err != nil {
			return nil, store.Classify(err)
		}
		out = append(out, queueInfo(qi))
	}
	slices.SortFunc(out, func(a, b *QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PauseQueue pauses (paused true) or resumes a queue on every worker: a
// paused queue keeps its tasks, and workers take none of them until it is
// resumed. A queue this configuration serves (QueueNames) can be paused
// before its first task arrives. It returns the queue's info; a queue
// that is neither served nor holds tasks is a not-found error.
func (s *Service) PauseQueue(ctx context.Context, name string, paused bool) (*QueueInfo, error) {
	in := s.queue.Inspector()
	names, err := in.Queues()
	if err != nil {
		return nil, store.Classify(err)
	}
	if !slices.Contains(names, name) {
		// asynq's GetQueueInfo cannot answer for a queue that never held a
		// task (it errs in its internal package, not ErrQueueNotFound), but
		// its pause applies to it all the same.
		if !slices.Contains(s.QueueNames(), name) {
			return nil, job.Errorf(job.CodeNotFound, "queue %q not found", name)
		}
		return s.pauseFresh(ctx, name, paused)
	}
	qi, err := in.GetQueueInfo(name)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, job.Errorf(job.CodeNotFound, "queue %q not found", name)
	}
	if err != nil {
		return nil, store.Classify(err)
	}
	if qi.Paused == paused {
		return queueInfo(qi), nil
	}
	if err := setQueuePaused(in, name, paused); err != nil {
		return nil, store.Classify(err)
	}
	if qi, err = in.GetQueueInfo(name); err != nil {
		return nil, store.Classify(err)
	}
	return queueInfo(qi), nil
}

// pauseFresh pauses or resumes a served queue that has held no task yet.
func (s *Service) pauseFresh(ctx context.Context, name string, paused bool) (*QueueInfo, error) {
	state, known, err := s.queue.Paused(ctx, []string{name})
	if err != nil {
		return nil, store.Classify(err)
	}
	if known && state[0] == paused {
		return &QueueInfo{Name: name, Paused: paused}, nil
	}
	err = setQueuePaused(s.queue.Inspector(), name, paused)
	// Without the layout the state was not read first: asynq refuses to
	// pause a paused queue (or resume a running one) with an error of its
	// internal package, which here means the queue is as asked.
	if err != nil && (known || !strings.Contains(err.Error(), "already paused") && !strings.Contains(err.Error(), "not paused")) {
		return nil, store.Classify(err)
	}
	return &QueueInfo{Name: name, Paused: paused}, nil
}

func setQueuePaused(in *asynq.Inspector, name string, paused bool) error {
	if paused {
		return in.PauseQueue(name)
	}
	return in.UnpauseQueue(name)
}

// Workers returns the running workers (Work calls in any process on this
// Redis), oldest first.
func (s *Service) Workers(ctx context.Context) ([]*WorkerInfo, error) {
	srvs, err := s.queue.Inspector().Servers()
	if err != nil {
		return nil, store.Classify(err)
	}
	out := make([]*WorkerInfo, 0, len(srvs))
	for _, w := range srvs {
		wi := &WorkerInfo{ID: w.ID, Host: w.Host, PID: w.PID, Concurrency: w.Concurrency,
			Active: len(w.ActiveWorkers), Queues: w.Queues, Status: w.Status, StartedAt: w.Started.UTC()}
		for _, a := range w.ActiveWorkers {
			// A task's id is the execution's id and the attempt's number.
			if at, err := queue.ParseAttempt([]byte(a.TaskID)); err == nil {
				wi.Executions = append(wi.Executions, at.ID)
			}
		}
		slices.Sort(wi.Executions)
		out = append(out, wi)
	}
	slices.SortFunc(out, func(a, b *WorkerInfo) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}
