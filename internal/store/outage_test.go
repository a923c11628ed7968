package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/patience"
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

// TestBatchedCallsUnderConcurrency: concurrent creates, starts and finishes
// share pipelines, with one or several leaders at a time; each call still
// gets its own result, conflicts and stale attempts included, and a flushed
// script cache (NOSCRIPT) is recovered from.
func TestBatchedCallsUnderConcurrency(t *testing.T) {
	for _, pipes := range []int{1, 4} {
		t.Run(fmt.Sprintf("pipelines=%d", pipes), func(t *testing.T) { testBatchedCalls(t, pipes) })
	}
}

func testBatchedCalls(t *testing.T, pipes int) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{Pipelines: pipes})
	ctx := context.Background()
	now := time.Now()
	const n = 200
	run := func(f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- f(i) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	id := func(i int) string { return fmt.Sprintf("b%03d", i) }
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	run(func(i int) error {
		return s.Create(ctx, &job.Execution{ID: id(i), JobType: "t", Queue: "default", CreatedAt: now},
			json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))
	})
	// a second create of every id is a conflict, reported to each caller
	run(func(i int) error {
		err := s.Create(ctx, &job.Execution{ID: id(i), JobType: "t", Queue: "default", CreatedAt: now}, json.RawMessage(`{}`))
		if !strings.Contains(fmt.Sprint(err), "exists") {
			return fmt.Errorf("want a conflict, got %v", err)
		}
		return nil
	})
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	run(func(i int) error {
		st, err := s.Start(ctx, id(i), 1, "w", now)
		if err != nil {
			return err
		}
		if want := fmt.Sprintf(`{"i":%d}`, i); string(st.Input) != want || st.Execution.ID != id(i) {
			return fmt.Errorf("start %s got %s %s", id(i), st.Execution.ID, st.Input)
		}
		// the wrong attempt is not startable
		if _, err := s.Start(ctx, id(i), 2, "w", now); err == nil {
			return fmt.Errorf("attempt 2 of %s started", id(i))
		}
		return nil
	})
	run(func(i int) error {
		ok, err := s.Finish(ctx, id(i), 1, store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal,
			Solution: json.RawMessage(fmt.Sprintf(`{"s":%d}`, i))}, now)
		if err != nil || !ok {
			return fmt.Errorf("finish %s: %v %v", id(i), ok, err)
		}
		return nil
	})
	counts, err := s.CountByState(ctx)
	require.NoError(t, err)
	require.EqualValues(t, n, counts[job.StateSucceeded])
	sol, err := s.Solution(ctx, id(7))
	require.NoError(t, err)
	require.JSONEq(t, `{"s":7}`, string(sol))
}

// TestCreateWithTask writes the record and its queue task in one step; a
// second create with the same id writes neither.
func TestCreateWithTask(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	task := newTask("t1")
	e := &job.Execution{ID: "t1", JobType: "t", Queue: "q", CreatedAt: time.Now()}
	require.NoError(t, s.CreateWithTask(ctx, e, json.RawMessage(`{}`), task))
	m, err := rdb.HGetAll(ctx, task.Key).Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"msg": "msg", "state": "pending", "pending_since": "1"}, m)
	require.Equal(t, []string{"t1:1"}, rdb.LRange(ctx, task.PendingKey, 0, -1).Val())
	require.True(t, rdb.SIsMember(ctx, task.QueuesKey, "q").Val())

	require.ErrorIs(t, s.CreateWithTask(ctx, e, json.RawMessage(`{}`), task), job.ErrConflict)
	require.EqualValues(t, 1, rdb.LLen(ctx, task.PendingKey).Val(), "nothing enqueued twice")
}

// TestCreateNewSentTwice: a second CreateNew of the same call (a re-send
// after a lost reply) reports success and writes nothing more: the record
// keeps its first content and the task is queued once.
func TestCreateNewSentTwice(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	task := newTask("n1")
	e := &job.Execution{ID: "n1", JobType: "t", Name: "first", Queue: "q", CreatedAt: time.Now()}
	require.NoError(t, s.CreateNew(ctx, e, json.RawMessage(`{"a":1}`), task, ""))
	again := *e
	again.Name = "second"
	require.NoError(t, s.CreateNew(ctx, &again, json.RawMessage(`{"a":2}`), task, ""))
	require.EqualValues(t, 1, rdb.LLen(ctx, task.PendingKey).Val(), "nothing enqueued twice")
	got, err := s.Get(ctx, "n1")
	require.NoError(t, err)
	require.Equal(t, "first", got.Name)
	in, err := s.Input(ctx, "n1")
	require.NoError(t, err)
	require.JSONEq(t, `{"a":1}`, string(in))
	// CreateWithTask, for ids that callers choose, still reports the conflict.
	require.ErrorIs(t, s.CreateWithTask(ctx, &again, json.RawMessage(`{}`), task), job.ErrConflict)
}

// TestBatchedCallWithEndedContext: a call whose context has ended is either
// withdrawn before it was sent (context error, nothing written) or, when it
// was already on the wire, answered with its real result. Never an error
// for a write that happened.
func TestBatchedCallWithEndedContext(t *testing.T) {
	s := store.New(redistest.Client(t), store.Options{Pipelines: 1})
	withdrawn, sent := 0, 0
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		id := fmt.Sprintf("c%03d", i)
		err := s.Create(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`))
		_, getErr := s.Get(context.Background(), id)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, getErr, job.ErrNotFound, "a withdrawn call wrote its record")
			withdrawn++
		} else {
			require.NoError(t, getErr)
			sent++
		}
	}
	t.Logf("withdrawn %d, sent %d", withdrawn, sent)
	require.Positive(t, withdrawn)
}

// TestBatcherSurvivesABrokenConnection: the flusher sends on a connection
// of its own; when Redis drops it, the calls in flight are sent again
// through the pool and later calls get a new connection.
func TestBatcherSurvivesABrokenConnection(t *testing.T) {
	if redistest.Current(t).Kind == "miniredis" {
		t.Skip("miniredis has no CLIENT KILL")
	}
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{Pipelines: 1})
	ctx := context.Background()
	create := func(id string) error {
		return s.Create(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`))
	}
	require.NoError(t, create("k1"))
	// Drop every connection of this test's database but the admin's.
	db := rdb.Options().DB
	admin := rdb.Conn()
	defer admin.Close()
	me, err := admin.ClientID(ctx).Result()
	require.NoError(t, err)
	list, err := admin.ClientList(ctx).Result()
	require.NoError(t, err)
	killed := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if f["db"] == fmt.Sprint(db) && f["id"] != fmt.Sprint(me) {
			require.NoError(t, admin.ClientKillByFilter(ctx, "ID", f["id"]).Err())
			killed++
		}
	}
	require.Positive(t, killed, "the flusher's connection was expected among the clients")
	require.NoError(t, create("k2"), "sent again through the pool")
	require.NoError(t, create("k3"), "on a new connection")
	for _, id := range []string{"k1", "k2", "k3"} {
		e, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, job.StateQueued, e.State)
	}
}

// replicatedStore is a store with Options.Replicas 1 on the primary of a
// new primary and replica pair, and a client on the replica.
func replicatedStore(t *testing.T, timeout time.Duration) (*store.Store, *redistest.Replicated, *redis.Client) {
	t.Helper()
	pair := redistest.StartReplicated(t, 1)
	replica := redis.NewClient(&redis.Options{Addr: pair.Replicas[0]})
	t.Cleanup(func() { replica.Close() })
	return storeOn(t, pair, timeout), pair, replica
}

// storeOn is a store with Options.Replicas 1 on pair's primary, its own
// client, WAITing at most timeout.
func storeOn(t *testing.T, pair *redistest.Replicated, timeout time.Duration) *store.Store {
	rdb := redis.NewClient(&redis.Options{Addr: pair.Primary})
	t.Cleanup(func() { rdb.Close() })
	return store.New(rdb, store.Options{Pipelines: 1, Replicas: 1, ReplicaTimeout: timeout})
}

// TestReplicatedBatchedCreates: concurrent creates, which the batcher
// sends in shared pipelines, each one's WAIT covering them all, are every
// one on the replica when they return.
func TestReplicatedBatchedCreates(t *testing.T) {
	s, _, replica := replicatedStore(t, patience.Scale(5*time.Second))
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	onReplica := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("e%d", i)
			errs[i] = s.Create(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`))
			if errs[i] == nil {
				onReplica[i], errs[i] = replica.Exists(ctx, "{solvekit}:x:"+id).Result()
			}
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.EqualValues(t, 1, onReplica[i], "e%d is on the replica when its create returns", i)
	}
}

// TestReplicatedFinishWhileTheReplicaSleeps: a finish that the replica
// does not acknowledge in time fails with ErrNotReplicated and code
// outcome_unknown; the primary has it, and the finish sent again once the
// replica is back succeeds.
func TestReplicatedFinishWhileTheReplicaSleeps(t *testing.T) {
	s, pair, _ := replicatedStore(t, 200*time.Millisecond)
	// The execution is created and started by a store that waits long
	// enough for a healthy replica on a loaded machine: only the finish
	// is to miss its WAIT.
	setup := storeOn(t, pair, patience.Scale(10*time.Second))
	ctx, now := context.Background(), time.Now()
	require.NoError(t, setup.Create(ctx, &job.Execution{ID: "f", JobType: "t", Queue: "default", CreatedAt: now}, json.RawMessage(`{}`)))
	_, err := setup.Start(ctx, "f", 1, "w", now)
	require.NoError(t, err)
	sleep := patience.Scale(2 * time.Second)
	redistest.Pause(t, pair.Replicas[0], sleep)
	out := store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}
	_, err = s.Finish(ctx, "f", 1, out, now)
	require.ErrorIs(t, err, store.ErrNotReplicated)
	require.Equal(t, job.CodeOutcomeUnknown, job.ErrorCode(err))
	e, err := s.Get(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, e.State, "the finish is on the primary")

	// Once the replica answers again, the same finish (guarded, so a no-op
	// on the primary) is acknowledged.
	out.Repeated = true
	require.Eventually(t, func() bool {
		_, err := s.Finish(ctx, "f", 1, out, now)
		return err == nil
	}, sleep+patience.Scale(30*time.Second), 100*time.Millisecond)
}
