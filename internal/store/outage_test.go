package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// faulty returns a store on a fresh database whose scripts f disturbs.
func faulty(t *testing.T, window time.Duration) (*store.Store, *redis.Client, *redistest.Faults) {
	rdb := redistest.Client(t)
	f := &redistest.Faults{}
	rdb.AddHook(f)
	return store.New(rdb, store.Options{Pipelines: 1, RetryWindow: window}), rdb, f
}

func newTask(id string) *store.Task {
	return &store.Task{ID: id + ":1", Queue: "q", Key: "asynq:{q}:t:" + id + ":1", PendingKey: "asynq:{q}:pending",
		QueuesKey: "asynq:queues", Msg: []byte("msg"), PendingSince: "1"}
}

func newExec(id string) *job.Execution {
	return &job.Execution{ID: id, JobType: "t", Queue: "q", CreatedAt: time.Now()}
}

// TestNoPlainErrorForAWriteThatLanded: when the connection breaks after a
// create, start or finish reached Redis, the call answers what Redis did
// (after sending it again when that is safe) or says that the outcome is
// unknown (job.ErrOutcomeUnknown); never a plain error, nor a conflict or
// "not startable" caused by its own first send. An error from CreateNew
// (Submit) thus means "not created" unless it is ErrOutcomeUnknown.
func TestNoPlainErrorForAWriteThatLanded(t *testing.T) {
	ctx := context.Background()

	t.Run("create, then Redis refuses the re-send", func(t *testing.T) {
		s, rdb, f := faulty(t, 50*time.Millisecond)
		f.RefuseAfterLoss.Store(-1)
		f.Lose.Store(true)
		err := s.CreateNew(ctx, newExec("a1"), json.RawMessage(`{}`), newTask("a1"), "")
		require.Error(t, err)
		require.ErrorIs(t, err, job.ErrOutcomeUnknown, "the record was written: the error must say the outcome is unknown")
		require.NotErrorIs(t, err, job.ErrUnavailable)
		f.Refuse.Store(0)
		_, err = s.Get(ctx, "a1")
		require.NoError(t, err, "the first send landed")
		// Sending the same call again (what a caller may do after an
		// unknown outcome) writes nothing twice.
		require.NoError(t, s.CreateNew(ctx, newExec("a1"), json.RawMessage(`{}`), newTask("a1"), ""))
		require.EqualValues(t, 1, rdb.LLen(ctx, "asynq:{q}:pending").Val())
	})

	t.Run("create, re-sent", func(t *testing.T) {
		s, rdb, f := faulty(t, 50*time.Millisecond)
		f.Lose.Store(true)
		require.NoError(t, s.CreateNew(ctx, newExec("b1"), json.RawMessage(`{}`), newTask("b1"), ""))
		require.EqualValues(t, 2, f.Ran.Load(), "sent again after the lost reply")
		require.EqualValues(t, 1, rdb.LLen(ctx, "asynq:{q}:pending").Val(), "queued once")
	})

	t.Run("create with a caller's id is not re-sent", func(t *testing.T) {
		s, _, f := faulty(t, 50*time.Millisecond)
		f.Lose.Store(true)
		err := s.CreateWithTask(ctx, newExec("c1"), json.RawMessage(`{}`), newTask("c1"))
		require.ErrorIs(t, err, job.ErrOutcomeUnknown)
		require.NotErrorIs(t, err, job.ErrConflict, "its own first send is no conflict")
		require.EqualValues(t, 1, f.Ran.Load())
	})

	t.Run("start is not re-sent", func(t *testing.T) {
		s, _, f := faulty(t, 50*time.Millisecond)
		require.NoError(t, s.CreateNew(ctx, newExec("d1"), json.RawMessage(`{}`), nil, ""))
		f.Lose.Store(true)
		_, err := s.Start(ctx, "d1", 1, "w", time.Now())
		require.ErrorIs(t, err, job.ErrOutcomeUnknown)
		require.NotErrorIs(t, err, store.ErrNotStartable, "its own first send made it running")
	})

	t.Run("finish, re-sent, reports its own write", func(t *testing.T) {
		s, rdb, f := faulty(t, 50*time.Millisecond)
		task := newTask("e1")
		require.NoError(t, s.CreateNew(ctx, newExec("e1"), json.RawMessage(`{}`), task, ""))
		_, err := s.Start(ctx, "e1", 1, "w", time.Now())
		require.NoError(t, err)
		// asynq moves a task it hands out from pending to active.
		require.NoError(t, rdb.LMove(ctx, task.PendingKey, "asynq:{q}:active", "RIGHT", "LEFT").Err())
		done := &store.TaskDone{ID: task.ID, ActiveKey: "asynq:{q}:active", LeaseKey: "asynq:{q}:lease", Key: task.Key,
			ProcessedKey: "asynq:{q}:processed:d", ProcessedTotalKey: "asynq:{q}:processed", ExpireAt: time.Now().Add(time.Hour).Unix()}
		f.Lose.Store(true)
		ok, err := s.Finish(ctx, "e1", 1, store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal,
			Solution: json.RawMessage(`{"x":1}`), Task: done}, time.Now())
		require.NoError(t, err)
		require.True(t, ok, "the finish is this call's own")
		require.True(t, done.Completed, "and so is the task's completion")
		e, err := s.Get(ctx, "e1")
		require.NoError(t, err)
		require.Equal(t, job.StateSucceeded, e.State)
		// A finish of the same attempt that is not the one recorded is
		// still ignored.
		ok, err = s.Finish(ctx, "e1", 1, store.Outcome{State: job.StateFailed, Repeated: true}, time.Now().Add(time.Second))
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("finish, repeated by its caller after an unknown outcome", func(t *testing.T) {
		s, _, f := faulty(t, 50*time.Millisecond)
		require.NoError(t, s.CreateNew(ctx, newExec("g1"), json.RawMessage(`{}`), nil, ""))
		_, err := s.Start(ctx, "g1", 1, "w", time.Now())
		require.NoError(t, err)
		f.RefuseAfterLoss.Store(-1)
		f.Lose.Store(true)
		now := time.Now()
		o := store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}
		_, err = s.Finish(ctx, "g1", 1, o, now)
		require.ErrorIs(t, err, job.ErrOutcomeUnknown)
		f.Refuse.Store(0)
		ok, err := s.Finish(ctx, "g1", 1, o, now)
		require.NoError(t, err)
		require.False(t, ok, "without Repeated, an ignored finish")
		o.Repeated = true
		ok, err = s.Finish(ctx, "g1", 1, o, now)
		require.NoError(t, err)
		require.True(t, ok, "the earlier call landed")
	})
}

// TestRefusedCallsAreSentAgain: a call that Redis refused (here: connection
// refused) did not run, so the store sends it again for a while (the retry
// window); past the window the error is job.ErrUnavailable, and nothing
// was written.
func TestRefusedCallsAreSentAgain(t *testing.T) {
	ctx := context.Background()
	s, _, f := faulty(t, time.Minute)
	f.Refuse.Store(3)
	require.NoError(t, s.CreateNew(ctx, newExec("r1"), json.RawMessage(`{}`), nil, ""))
	require.EqualValues(t, 1, f.Ran.Load())
	require.Zero(t, f.Refuse.Load(), "sent again after each refusal")

	s, _, f = faulty(t, 30*time.Millisecond)
	f.Refuse.Store(-1)
	err := s.CreateNew(ctx, newExec("r2"), json.RawMessage(`{}`), nil, "")
	require.ErrorIs(t, err, job.ErrUnavailable)
	require.NotErrorIs(t, err, job.ErrOutcomeUnknown)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "the cause is kept")
	require.Zero(t, f.Ran.Load())
	_, err = s.Get(ctx, "r2")
	require.ErrorIs(t, err, job.ErrNotFound, "nothing was written")
}

// TestRedisDownIsUnavailable: with its Redis stopped, the store's reads and
// writes fail with job.ErrUnavailable (after the retry window), the cause
// kept for errors.Is.
func TestRedisDownIsUnavailable(t *testing.T) {
	// A small pool stops dialling (and logging each failure) after a few
	// failed dials, until a background probe reaches the server again.
	rdb, stop := redistest.Stoppable(t, 2)
	s := store.New(rdb, store.Options{RetryWindow: 50 * time.Millisecond})
	ctx := context.Background()
	require.NoError(t, s.CreateNew(ctx, newExec("x1"), json.RawMessage(`{}`), nil, ""))
	stop()

	for name, call := range map[string]func() error{
		"get":       func() error { _, err := s.Get(ctx, "x1"); return err },
		"create":    func() error { return s.CreateNew(ctx, newExec("x2"), json.RawMessage(`{}`), nil, "") },
		"start":     func() error { _, err := s.Start(ctx, "x1", 1, "w", time.Now()); return err },
		"solution":  func() error { _, err := s.Solution(ctx, "x1"); return err },
		"list":      func() error { _, err := s.List(ctx, store.Filter{}, store.Page{Limit: 10}); return err },
		"counts":    func() error { _, err := s.CountByState(ctx); return err },
		"instance":  func() error { _, err := s.InstanceData(ctx, "i1"); return err },
		"logs":      func() error { _, err := s.Logs(ctx, "x1", "", 10); return err },
		"classify":  func() error { return store.Classify(rdb.Ping(ctx).Err()) },
		"classify2": func() error { return store.Classify(fmt.Errorf("wrapped: %w", rdb.Get(ctx, "k").Err())) },
	} {
		err := call()
		require.ErrorIs(t, err, job.ErrUnavailable, "%s: %v", name, err)
		require.Equal(t, job.CodeUnavailable, job.ErrorCode(err), name)
		var op *net.OpError
		require.ErrorAs(t, err, &op, "%s: the cause is kept", name)
	}
	// Not outages: answers and other errors pass through Classify as they are.
	require.ErrorIs(t, store.Classify(redis.Nil), redis.Nil)
	require.Equal(t, job.CodeInternal, job.ErrorCode(store.Classify(errors.New("x"))))
	require.Equal(t, job.CodeInternal, job.ErrorCode(store.Classify(context.Canceled)))
}

// TestLoadingIsWaitedOut: a Redis that is loading its data set answers
// LOADING; the store sends calls again until it has loaded (within its
// retry window), and without a window the error is job.ErrUnavailable.
// The loading is real: a redis-server started on a saved data set, slowed
// with its key-load-delay test setting.
func TestLoadingIsWaitedOut(t *testing.T) {
	if redistest.Current(t).Kind == "miniredis" {
		t.Skip("needs redis-server")
	}
	dir := t.TempDir()
	ctx := context.Background()
	waitUp := func(sock string) *redis.Client {
		c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		deadline := time.Now().Add(time.Minute)
		for c.Info(ctx, "server").Err() != nil { // INFO is served while loading
			require.True(t, time.Now().Before(deadline), "redis-server did not start")
			time.Sleep(20 * time.Millisecond)
		}
		return c
	}
	// A data set of 2000 keys, saved.
	sockA, killA := redistest.Spawn(t, dir, "a.sock")
	ca := waitUp(sockA)
	pipe := ca.Pipeline()
	for i := 0; i < 2000; i++ {
		pipe.Set(ctx, fmt.Sprintf("k%d", i), "v", 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	require.NoError(t, ca.Save(ctx).Err())
	killA()
	_, err = os.Stat(filepath.Join(dir, "dump.rdb"))
	require.NoError(t, err)

	// Loading it takes 2000 × 2ms.
	sockB, _ := redistest.Spawn(t, dir, "b.sock", "--key-load-delay", "2000", "--loading-process-events-interval-bytes", "1024")
	cb := waitUp(sockB)
	info, err := cb.Info(ctx, "persistence").Result()
	require.NoError(t, err)
	require.Contains(t, info, "loading:1", "the server has already loaded: the test cannot see LOADING")

	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sockB})
	t.Cleanup(func() { rdb.Close() })
	var loadingSeen atomic.Int32
	rdb.AddHook(loadingCounter{&loadingSeen})

	impatient := store.New(rdb, store.Options{RetryWindow: -1})
	_, err = impatient.Get(ctx, "z")
	require.ErrorIs(t, err, job.ErrUnavailable)
	require.True(t, redis.IsLoadingError(err), "the cause is LOADING: %v", err)

	seen := loadingSeen.Load()
	patient := store.New(rdb, store.Options{RetryWindow: 5 * time.Minute})
	_, err = patient.Get(ctx, "z")
	require.ErrorIs(t, err, job.ErrNotFound, "answered once loaded")
	require.NoError(t, patient.CreateNew(ctx, newExec("z"), json.RawMessage(`{}`), nil, ""))
	require.Greater(t, loadingSeen.Load(), seen, "the store met LOADING and sent the call again")
	require.EqualValues(t, 1, rdb.Exists(ctx, "k1999").Val(), "the data set is loaded")
}

// loadingCounter counts the LOADING errors its client's commands end with.
type loadingCounter struct{ n *atomic.Int32 }

func (l loadingCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l loadingCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if redis.IsLoadingError(err) {
			l.n.Add(1)
		}
		return err
	}
}

func (l loadingCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
