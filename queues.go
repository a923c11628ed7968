package solvekit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
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
	// error of its internal package (not ErrQueueNotFound) for any other.
	existing := len(names)
	for _, q := range s.QueueNames() {
		if !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	known := slices.Clone(names[:existing])
	slices.Sort(names)
	out := make([]*QueueInfo, 0, len(names))
	for _, n := range names {
		if !slices.Contains(known, n) {
			out = append(out, &QueueInfo{Name: n})
			continue
		}
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
	return out, nil
}

// PauseQueue pauses (paused true) or resumes a queue on every worker: a
// paused queue keeps its tasks, and workers take none of them until it is
// resumed. It returns the queue's info; an unknown queue is a not-found
// error.
func (s *Service) PauseQueue(ctx context.Context, name string, paused bool) (*QueueInfo, error) {
	in := s.queue.Inspector()
	names, err := in.Queues()
	if err != nil {
		return nil, store.Classify(err)
	}
	if !slices.Contains(names, name) {
		// asynq's GetQueueInfo would answer an error of its internal
		// package, not ErrQueueNotFound.
		return nil, job.Errorf(job.CodeNotFound, "queue %q not found", name)
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
	if paused {
		err = in.PauseQueue(name)
	} else {
		err = in.UnpauseQueue(name)
	}
	if err != nil {
		return nil, store.Classify(err)
	}
	if qi, err = in.GetQueueInfo(name); err != nil {
		return nil, store.Classify(err)
	}
	return queueInfo(qi), nil
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
		out = append(out, &WorkerInfo{ID: w.ID, Host: w.Host, PID: w.PID, Concurrency: w.Concurrency,
			Active: len(w.ActiveWorkers), Queues: w.Queues, Status: w.Status, StartedAt: w.Started.UTC()})
	}
	slices.SortFunc(out, func(a, b *WorkerInfo) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}
