package solvekit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
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
// task was lost, and the scheduler that queues scheduled executions when
// they are due and fires periodic schedules (docs/schedules.md). Any number of processes may call Work on the same Redis.
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
	s.addTagQueues(queues)
	conc := s.cfg.Concurrency
	if conc <= 0 {
		conc = numCPU()
	}
	shutdownCtx, shutdown := context.WithCancelCause(context.Background())
	// A handler still running when Work returns (asynq gave up waiting)
	// ends its attempt as a shutdown: requeued, not stopped.
	defer shutdown(errShutdown)
	srv := queue.NewServer(s.rdb, queue.ServerConfig{
		Concurrency: conc, Queues: queues, StrictPriority: s.cfg.StrictPriority,
		TaskCheckInterval: s.cfg.TaskCheckInterval,
		// solvekit drains attempts itself (below); asynq only waits for
		// handlers that are already returning.
		ShutdownTimeout:   s.cfg.ShutdownTimeout + 5*time.Second,
		Logger:            s.cfg.Logger,
		CompleteInScripts: s.fused,
	}, func(tctx context.Context, a queue.Attempt) error {
		return s.handle(tctx, shutdownCtx, a)
	})
	if err := srv.Start(); err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var sweeper sync.WaitGroup
	sweeper.Add(2)
	go func() { defer sweeper.Done(); s.sweepLoop(sweepCtx) }()
	go func() { defer sweeper.Done(); s.schedulerLoop(sweepCtx) }()

	<-ctx.Done()
	stopSweep()
	sweeper.Wait()
	// Give running attempts ShutdownTimeout, then cancel them as shutdown
	// (requeued as new attempts) and let asynq finish. srv.Shutdown stops
	// taking tasks and returns once every handler has returned, so the
	// timer needs no count of running handlers: handlers may still start
	// while it runs (tasks already taken), and a count that they join while
	// another goroutine waits for it to reach zero is exactly what
	// sync.WaitGroup forbids.
	cancelRunning := time.AfterFunc(s.cfg.ShutdownTimeout, func() { shutdown(errShutdown) })
	srv.Shutdown()
	cancelRunning.Stop()
	return nil
}

// handle runs one queued attempt. It returns an error only when the store
// could not be reached, so that asynq delivers the same attempt again.
func (s *Service) handle(tctx, shutdownCtx context.Context, a queue.Attempt) error {
	growStack(0)
	// A failed Start is retried here (retryWrite) rather than by asynq: a
	// retry may land on another worker, which finds the record running if
	// the failed send did run, and leaves it to the sweeper. Sent again
	// here, the start script recognises this worker's own earlier start.
	var started *store.Started
	notStartable := false
	err := s.retryWrite(tctx, "starting an attempt", &job.Execution{ID: a.ID, Attempt: a.Attempt}, func() (err error) {
		started, err = s.store.Start(tctx, a.ID, a.Attempt, s.workerID, nowUTC())
		if errors.Is(err, store.ErrNotStartable) {
			notStartable = true
			return nil
		}
		return err
	})
	if notStartable {
		return nil // finished, cancelled, taken over, or a duplicate task
	}
	if err != nil {
		return err
	}
	if started.Resumed && s.rt.runs(a.ID) {
		return nil // a second delivery of an attempt this process runs
	}
	e := started.Execution
	if s.observed() {
		s.awaitAnnounced(e.ID)
		s.publish(s.transition(e, job.StateQueued, job.StateRunning, "start"))
	}
	if s.afterStart != nil {
		s.afterStart(e.ID)
	}
	t, err := s.reg.Lookup(e.JobType)
	if err != nil {
		out := store.Outcome{
			State: job.StateFailed, SolverStatus: job.StatusNotSolved,
			Error: &job.ErrorInfo{Kind: "error", Message: "job type " + e.JobType + " is not registered on worker " + s.workerID},
		}
		ok, ferr := s.store.Finish(context.Background(), e.ID, e.Attempt, out, nowUTC())
		if ok && ferr == nil {
			s.publishFinish(e, out)
		}
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

// sweepLost requeues running attempts whose heartbeat stopped, and retires
// their asynq tasks, which their dead workers will never complete.
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
		if err != nil || (!res.Requeued && !res.Ended) {
			continue
		}
		lost := res.Attempt
		if res.Requeued {
			lost--
			s.cfg.Logger.Warn("solvekit: worker lost; execution requeued", "execution", id, "attempt", res.Attempt)
		}
		e, err := s.store.Get(ctx, id)
		if err != nil {
			continue
		}
		if s.observed() {
			tr := s.transition(e, job.StateLost, res.State, "lost")
			tr.Attempt, tr.SolverStatus, tr.Error = res.Attempt, e.SolverStatus, e.Error
			s.publish(tr)
		}
		// Without this, asynq would show the lost attempt's task active
		// until its lease expired, then count it failed and run it again
		// (for nothing: the attempt is not current any more). On the
		// public path (queue.Path.Layout false) that is what happens.
		if _, err := s.queue.Retire(ctx, taskQueue(e), queueAttempt(id, lost)); err != nil {
			s.cfg.Logger.Warn("solvekit: could not retire a lost attempt's task", "execution", id, "attempt", lost, "err", err)
		}
		if res.Requeued {
			s.enqueue(ctx, id, res.Attempt, taskQueue(e), e.Timeout, 0)
		}
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
	qs := make([]queue.Queued, len(recs))
	for i, e := range recs {
		qs[i] = queue.Queued{Queue: taskQueue(e), Attempt: queueAttempt(e.ID, e.Attempt)}
	}
	exists, err := s.queue.HasTasks(ctx, qs)
	if err != nil {
		return next
	}
	var missing []string
	attempt := map[string]int{} // the attempt each missing task was for
	for i, e := range recs {
		if !exists[i] {
			missing = append(missing, e.ID)
			attempt[e.ID] = e.Attempt
		}
	}
	if len(missing) == 0 {
		return next
	}
	// The records were read before the task keys: a task missing now may
	// have run, finished and been deleted in between (a long backlog on a
	// busy machine). Only what is still queued, read again after the key
	// check, lacks a task; the rest would get a second, useless task.
	now, err := s.store.GetMany(ctx, missing)
	if err != nil {
		return next
	}
	for _, e := range now {
		if e.State != job.StateQueued || e.Attempt != attempt[e.ID] {
			continue
		}
		if ok, _ := s.queue.Enqueue(ctx, queueAttempt(e.ID, e.Attempt), queueOpts(taskQueue(e), e.Timeout, 0)); ok {
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
