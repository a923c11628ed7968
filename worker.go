package solvekit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
	"github.com/solvekit/solvekit/transport/queue"
)

func queueAttempt(id string, attempt int) queue.Attempt {
	return queue.Attempt{ID: id, Attempt: attempt}
}

func queueOpts(q string, timeout, delay time.Duration) queue.EnqueueOptions {
	return queue.EnqueueOptions{Queue: q, Timeout: timeout, Delay: delay}
}

// Work runs workers for the registered async job types until ctx ends,
// then stops taking work, gives running attempts ShutdownTimeout to finish
// and requeues the rest as new attempts. It also runs the sweeper that
// requeues attempts of dead workers and enqueues queued executions whose
// task was lost. Any number of processes may call Work on the same Redis.
func (s *Service) Work(ctx context.Context) error {
	// Close stops Work too, and waits for it, so that the Redis client is
	// never closed under a running asynq server.
	s.workers.Add(1)
	defer s.workers.Done()
	ctx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	stopOnClose := context.AfterFunc(s.closing, cancelWork)
	defer stopOnClose()
	queues := map[string]int{}
	for q, w := range s.cfg.Queues {
		queues[q] = w
	}
	if len(queues) == 0 {
		queues["default"] = 1
	}
	for _, t := range s.reg.List() {
		if _, ok := queues[t.Def.QueueName()]; !ok {
			queues[t.Def.QueueName()] = 1
		}
	}
	conc := s.cfg.Concurrency
	if conc <= 0 {
		conc = numCPU()
	}
	var active sync.WaitGroup
	shutdownCtx, shutdown := context.WithCancelCause(context.Background())
	defer shutdown(nil)
	srv := queue.NewServer(s.rdb, queue.ServerConfig{
		Concurrency: conc, Queues: queues, StrictPriority: s.cfg.StrictPriority,
		TaskCheckInterval: s.cfg.TaskCheckInterval,
		// solvekit drains attempts itself (below); asynq only waits for
		// handlers that are already returning.
		ShutdownTimeout: s.cfg.ShutdownTimeout + 5*time.Second,
		Logger:          s.cfg.Logger,
	}, func(tctx context.Context, a queue.Attempt) error {
		active.Add(1)
		defer active.Done()
		return s.handle(tctx, shutdownCtx, a)
	})
	if err := srv.Start(); err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var sweeper sync.WaitGroup
	sweeper.Add(1)
	go func() { defer sweeper.Done(); s.sweepLoop(sweepCtx) }()

	<-ctx.Done()
	stopSweep()
	sweeper.Wait()
	// Give running attempts ShutdownTimeout, then cancel them as shutdown
	// (requeued as new attempts) and let asynq finish.
	drained := make(chan struct{})
	go func() { active.Wait(); close(drained) }()
	go func() {
		select {
		case <-drained:
		case <-time.After(s.cfg.ShutdownTimeout):
			shutdown(errShutdown)
		}
	}()
	srv.Shutdown()
	return nil
}

// handle runs one queued attempt. It returns an error only when the store
// could not be reached, so that asynq delivers the same attempt again.
func (s *Service) handle(tctx, shutdownCtx context.Context, a queue.Attempt) error {
	growStack(0)
	started, err := s.store.Start(tctx, a.ID, a.Attempt, s.workerID, nowUTC())
	if errors.Is(err, store.ErrNotStartable) {
		return nil // finished, cancelled, taken over, or a duplicate task
	}
	if err != nil {
		return err
	}
	e := started.Execution
	t, err := s.reg.Lookup(e.JobType)
	if err != nil {
		_, ferr := s.store.Finish(context.Background(), e.ID, e.Attempt, store.Outcome{
			State: job.StateFailed, SolverStatus: job.StatusNotSolved,
			Error: &job.ErrorInfo{Kind: "error", Message: "job type " + e.JobType + " is not registered on worker " + s.workerID},
		}, nowUTC())
		return ferr
	}
	// The job's parent is Work's shutdown context, cancelled with
	// errShutdown when Work drains; asynq's own context is ignored (its only
	// cancellations are its timeout, set beyond the job's, and its shutdown,
	// which solvekit runs itself).
	s.execute(shutdownCtx, t, e, started.Input, queue.CompletionFrom(tctx))
	return nil
}

// sweepLoop runs the sweeper every SweepInterval while this process holds
// the sweeper lease, so one process sweeps at a time.
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	lastQueued := time.Time{}
	var queuedOffset int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := s.store.TryLock(ctx, "sweeper", s.workerID, 3*s.cfg.SweepInterval)
		if err != nil || !ok {
			continue
		}
		s.sweepLost(ctx)
		if time.Since(lastQueued) >= s.cfg.QueuedGrace {
			queuedOffset = s.sweepQueued(ctx, queuedOffset)
			lastQueued = time.Now()
		}
	}
}

// sweepLost requeues running attempts whose heartbeat stopped.
func (s *Service) sweepLost(ctx context.Context) {
	cutoff := nowUTC().Add(-s.cfg.HeartbeatTimeout)
	ids, err := s.store.Stale(ctx, cutoff, 200)
	if err != nil {
		return
	}
	for _, id := range ids {
		res, err := s.store.Requeue(ctx, id, store.RequeueRequest{
			Mode: store.Lost, HeartbeatBefore: cutoff, MaxLost: s.cfg.MaxLost,
			Error: &job.ErrorInfo{Kind: "lost", Message: "worker stopped sending heartbeats too often"},
		}, nowUTC())
		if err != nil || !res.Requeued {
			continue
		}
		s.cfg.Logger.Warn("solvekit: worker lost; execution requeued", "execution", id, "attempt", res.Attempt)
		e, err := s.store.Get(ctx, id)
		if err != nil {
			continue
		}
		s.enqueue(ctx, id, res.Attempt, e.Queue, e.Timeout, 0)
	}
}

// sweepPage is how many queued executions one sweep checks; a longer
// backlog is covered page by page over successive sweeps.
const sweepPage = 1000

// sweepQueued makes sure every queued execution older than QueuedGrace has
// a task, enqueueing the ones a crash between record and enqueue left out.
// It checks one page per call and returns the offset of the next page.
func (s *Service) sweepQueued(ctx context.Context, offset int64) int64 {
	recs, err := s.store.QueuedBefore(ctx, nowUTC().Add(-s.cfg.QueuedGrace), offset, sweepPage)
	if err != nil || len(recs) == 0 {
		return 0
	}
	next := offset + int64(len(recs))
	if len(recs) < sweepPage {
		next = 0
	}
	keys := make([]string, len(recs))
	for i, e := range recs {
		keys[i] = store.TaskKey(e.Queue, queueAttempt(e.ID, e.Attempt).TaskID())
	}
	exists, err := s.store.ExistingKeys(ctx, keys)
	if err != nil {
		return next
	}
	for i, e := range recs {
		if exists[i] {
			continue
		}
		if ok, _ := s.queue.Enqueue(ctx, queueAttempt(e.ID, e.Attempt), queueOpts(e.Queue, e.Timeout, 0)); ok {
			s.cfg.Logger.Warn("solvekit: queued execution had no task; enqueued", "execution", e.ID, "attempt", e.Attempt)
		}
	}
	return next
}

// growStack grows the calling goroutine's stack to what an attempt needs,
// while the stack is still shallow. asynq runs each task on a new
// goroutine, which starts with a small stack; left alone, it grows while
// deep in the attempt (recording its end), and the cost of growing is
// the cost of copying and adjusting every frame below. Done here, at the
// handler's entry, few frames are copied.
//
//go:noinline
func growStack(i int) byte {
	var b [growStackBytes]byte
	b[i&(len(b)-1)] = byte(i)
	return b[(i*7)&(len(b)-1)]
}

// growStackBytes is the frame growStack takes.
const growStackBytes = 8 << 10
