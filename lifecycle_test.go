package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// improver publishes an improving incumbent every 20 ms until its context
// ends, then returns nothing (so the runtime must keep the last incumbent).
func improver(name string, opts ...job.Option) *job.Definition {
	return job.Async(name, func(ctx context.Context, jc *job.Context) (any, error) {
		for i := 1; ; i++ {
			if err := jc.Incumbent(map[string]float64{"sum": float64(i)}, float64(i)); err != nil {
				return nil, err
			}
			jc.Progress(float64(i%100)/100, fmt.Sprintf("round %d", i))
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}, append([]job.Option{job.WithSolutionSchema(sumSolution)}, opts...)...)
}

func waitState(t *testing.T, b *bundle, id string, st job.State) *job.Execution {
	t.Helper()
	return waitUntil(t, b.svc, id, 10*time.Second, func(e *job.Execution) bool { return e.State == st }, "execution never reached %s", st)
}

func TestCancelRunningKeepsIncumbent(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{improver("improve")}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)
	require.Eventually(t, func() bool {
		inc, err := solvekit.StoreOf(b.svc).Incumbent(ctx, e.ID)
		return err == nil && len(inc) > 0
	}, patience.Scale(5*time.Second), 5*time.Millisecond)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	require.Equal(t, job.StatusFeasible, e.SolverStatus)
	require.True(t, e.HasSolution)
	sol := b.solution(t, e.ID)
	var s struct{ Sum float64 }
	require.NoError(t, json.Unmarshal(sol, &s))
	require.Greater(t, s.Sum, 0.0)
	require.NotNil(t, e.Objective)
	require.Equal(t, s.Sum, *e.Objective, "objective is the last incumbent's")
	// A second cancel is a conflict: the terminal state is never left.
	require.ErrorIs(t, b.svc.Cancel(ctx, e.ID), job.ErrConflict)
}

func TestTimeLimitTimesOutWithIncumbent(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{improver("improve", job.WithTimeout(300*time.Millisecond))}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateTimedOut, e.State)
	require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
	require.True(t, e.HasSolution)
	sol := b.solution(t, e.ID)
	require.Contains(t, string(sol), `"sum"`)
}

func TestCancelQueued(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)})
	require.NoError(t, err)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	e, err = b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateStopped, e.State)
	require.False(t, e.HasSolution)
	// Its task is gone too.
	_, err = solvekit.InspectorOf(b.svc).GetTaskInfo("default", e.ID+":1")
	require.ErrorIs(t, err, asynq.ErrTaskNotFound)
}

func TestInvalidInputStoresNothing(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	before, err := b.rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum",
		Instance: json.RawMessage(`{"values":[1,-2,"x"],"extra":true}`),
		Config:   json.RawMessage(`{"scale":"big","mode":"medium"}`)})
	require.ErrorIs(t, err, job.ErrInvalid)
	var je *job.Error
	require.ErrorAs(t, err, &je)
	got := map[string]string{}
	for _, v := range je.Violations {
		got[v.Pointer] = v.Keyword
	}
	require.Equal(t, map[string]string{
		"/instance/extra":    "additionalProperties",
		"/instance/values/1": "minimum",
		"/instance/values/2": "type",
		"/config/scale":      "type",
		"/config/mode":       "enum",
	}, got)
	for _, req := range []solvekit.SubmitRequest{
		{JobType: "nope", Instance: json.RawMessage(`{}`)},
		{JobType: "sum"},
		{JobType: "sum", Instance: json.RawMessage(`{"values":`)},
		{JobType: "sum", Instance: json.RawMessage(`{"values":[]}`), InstanceID: "x"},
	} {
		_, err := b.svc.Submit(ctx, req)
		require.Error(t, err)
	}
	after, err := b.rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, before, after, "a refused submit stored or enqueued nothing")
}

func TestFailureKinds(t *testing.T) {
	var flaky atomic.Int32
	defs := []*job.Definition{
		job.Async("fail", func(ctx context.Context, jc *job.Context) (any, error) {
			return nil, job.Fail("capacity too small", map[string]int{"capacity": 3})
		}),
		job.Async("panic", func(ctx context.Context, jc *job.Context) (any, error) {
			var m map[string]int
			m["boom"] = 1
			return nil, nil
		}),
		job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
			if flaky.Add(1) < 3 {
				return nil, errors.New("transient")
			}
			return map[string]int{"attempt": jc.Attempt}, nil
		}, job.WithMaxRetries(3)),
		job.Async("broken", func(ctx context.Context, jc *job.Context) (any, error) {
			return nil, errors.New("always")
		}, job.WithMaxRetries(1)),
		job.Async("badsolution", func(ctx context.Context, jc *job.Context) (any, error) {
			return map[string]any{"sum": "not a number"}, nil
		}, job.WithSolutionSchema(sumSolution)),
	}
	b := setup(t, setupOpts{defs: defs, cfg: solvekit.Config{RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }}})
	ctx := context.Background()
	submit := func(name string) *job.Execution {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: name, Instance: json.RawMessage(`{}`)})
		require.NoError(t, err)
		return waitFor(t, b, e.ID, 15*time.Second)
	}

	e := submit("fail")
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, "failure", e.Error.Kind)
	require.Equal(t, "capacity too small", e.Error.Message)
	require.Equal(t, 1, e.Attempt, "expected failures are not retried")

	e = submit("panic")
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, "panic", e.Error.Kind)
	require.Contains(t, e.Error.Stack, "lifecycle_test.go")

	e = submit("flaky")
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 3, e.Attempt)
	require.Equal(t, 2, e.Retries)
	require.JSONEq(t, `{"attempt":3}`, string(b.solution(t, e.ID)))

	e = submit("broken")
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, "error", e.Error.Kind)
	require.Equal(t, 2, e.Attempt)

	e = submit("badsolution")
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, "invalid_solution", e.Error.Kind)
	require.Equal(t, "/sum", e.Error.Violations[0].Pointer)
	require.False(t, e.HasSolution)
}

func TestSyncJob(t *testing.T) {
	echo := job.SyncOf("echo", func(ctx context.Context, jc *job.Context, in struct {
		Msg string `json:"msg" validate:"required"`
	}) (map[string]string, error) {
		jc.Logger.Info("echoing", "msg", in.Msg)
		return map[string]string{"echo": in.Msg}, nil
	})
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{echo}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"msg":"hi"}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, job.KindSync, e.Kind)
	require.JSONEq(t, `{"echo":"hi"}`, string(b.solution(t, e.ID)))
	logs, err := b.svc.Logs(ctx, e.ID, "", 10)
	require.NoError(t, err)
	require.Len(t, logs, 1)

	// validator/v10 tags on the typed input: refused by Submit with a
	// pointer, nothing run (see TestSubmitChecksTypedInput).
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"msg":""}`)})
	require.ErrorIs(t, err, job.ErrInvalid)
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/instance/msg", je.Violations[0].Pointer)
}

func TestRelaunch(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	waitFor(t, b, e.ID, 10*time.Second)
	_, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"scale":"x"}`)})
	require.ErrorIs(t, err, job.ErrInvalid)
	e2, err := b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"scale":10}`)})
	require.NoError(t, err)
	require.Equal(t, 2, e2.Attempt)
	e2 = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e2.State)
	require.JSONEq(t, `{"sum":30}`, string(b.solution(t, e.ID)))
}

func TestSweeperEnqueuesOrphans(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()},
		cfg: solvekit.Config{QueuedGrace: 200 * time.Millisecond, SweepInterval: 100 * time.Millisecond}})
	ctx := context.Background()
	// Simulate a crash between writing the record and enqueueing: write the
	// record through the store only.
	now := time.Now().Add(-time.Second)
	e := &job.Execution{ID: "orphan-1", JobType: "sum", Kind: job.KindAsync, Queue: "default",
		Config: json.RawMessage(`{"scale":1}`), CreatedAt: now}
	require.NoError(t, solvekit.StoreOf(b.svc).Create(ctx, e, json.RawMessage(`{"values":[4]}`)))
	e = waitFor(t, b, "orphan-1", 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
}

func TestLateFinishIgnored(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	st := solvekit.StoreOf(b.svc)
	e := &job.Execution{ID: "late-1", JobType: "sum", Queue: "default", CreatedAt: time.Now()}
	require.NoError(t, st.Create(ctx, e, json.RawMessage(`{}`)))
	_, err := st.Start(ctx, "late-1", 1, "w1", time.Now())
	require.NoError(t, err)
	// The attempt is declared lost and requeued as attempt 2.
	res, err := st.Requeue(ctx, "late-1", store.RequeueRequest{Mode: store.Lost, HeartbeatBefore: time.Now().Add(time.Minute), MaxLost: 5}, time.Now())
	require.NoError(t, err)
	require.True(t, res.Requeued)
	require.Equal(t, 2, res.Attempt)
	// Attempt 1 finishes late: ignored.
	ok, err := st.Finish(ctx, "late-1", 1, store.Outcome{State: job.StateSucceeded, Solution: json.RawMessage(`{"sum":1}`)}, time.Now())
	require.NoError(t, err)
	require.False(t, ok)
	// Attempt 1's task again: not startable.
	_, err = st.Start(ctx, "late-1", 1, "w1", time.Now())
	require.ErrorIs(t, err, store.ErrNotStartable)
	_, err = st.Start(ctx, "late-1", 2, "w2", time.Now())
	require.NoError(t, err)
	ok, err = st.Finish(ctx, "late-1", 2, store.Outcome{State: job.StateSucceeded, Solution: json.RawMessage(`{"sum":2}`)}, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	// Written once: a second finish of the same attempt is ignored.
	ok, err = st.Finish(ctx, "late-1", 2, store.Outcome{State: job.StateFailed}, time.Now())
	require.NoError(t, err)
	require.False(t, ok)
	got, err := st.Get(ctx, "late-1")
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, got.State)
}

// TestCancelFromAnotherProcess cancels through a second Service on the
// same Redis: the worker learns of it through pub/sub.
func TestCancelFromAnotherProcess(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{improver("improve")}})
	ctx := context.Background()
	other, err := solvekit.New(context.Background(), solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger()})
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Register(improver("improve")))
	e, err := other.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)
	require.NoError(t, other.Cancel(ctx, e.ID))
	e, err = other.Wait(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateStopped, e.State)
	require.True(t, e.HasSolution)
}

// TestWaitHearsTheFinish: Wait subscribes to its execution's own done
// channel before reading the record, is woken by the finish another process
// writes (not by its fallback poll), and unsubscribes when it returns.
func TestWaitHearsTheFinish(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{job.Async("gate", func(ctx context.Context, jc *job.Context) (any, error) {
		<-release
		return map[string]int{"ok": 1}, nil
	})}})
	ctx := context.Background()
	waiter, err := solvekit.New(context.Background(), solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger()})
	require.NoError(t, err)
	defer waiter.Close()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	other, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)
	done := solvekit.StoreOf(waiter).DoneChannel(e.ID)
	numsub := func() int64 {
		n, err := b.rdb.PubSubNumSub(ctx, done).Result()
		require.NoError(t, err)
		return n[done]
	}
	require.Zero(t, numsub(), "nobody waits yet: no subscription")

	type result struct {
		e   *job.Execution
		err error
	}
	got := make(chan result, 1)
	blocked := make(chan struct{}, 1)
	solvekit.SetWaitBlocked(waiter, func(string) {
		select {
		case blocked <- struct{}{}:
		default:
		}
	})
	go func() {
		x, err := waiter.Wait(ctx, e.ID)
		got <- result{x, err}
	}()
	require.Eventually(t, func() bool { return numsub() == 1 }, patience.Scale(10*time.Second), 5*time.Millisecond)
	// Release the job only once Wait has read the running record: then
	// only the finish's notification (or the 2 s fallback poll) can wake it.
	select {
	case <-blocked:
	case <-time.After(patience.Scale(10 * time.Second)):
		t.Fatal("Wait never read the record")
	}
	close(release)
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, job.StateSucceeded, r.e.State)
	require.Equal(t, int64(1), solvekit.DoneHeard(waiter), "woken by the notification")
	require.Eventually(t, func() bool { return numsub() == 0 }, patience.Scale(10*time.Second), 5*time.Millisecond)
	// The other execution's finish was not delivered here: nobody waited.
	waitState(t, b, other.ID, job.StateSucceeded)
	require.Equal(t, int64(1), solvekit.DoneHeard(waiter))
}

// TestStubbornJobAbandoned: a worker job that ignores its stop is recorded
// as stopped with its last incumbent StopGrace after the cancel, while the
// func goes on; when it finally returns, nothing more is written.
func TestStubbornJobAbandoned(t *testing.T) {
	release := make(chan struct{})
	returned := make(chan struct{})
	stubborn := job.Async("stubborn", func(ctx context.Context, jc *job.Context) (any, error) {
		defer close(returned)
		if err := jc.Incumbent(map[string]float64{"sum": 7}, 7); err != nil {
			return nil, err
		}
		<-release // ignores ctx
		return map[string]float64{"sum": 99}, nil
	}, job.WithSolutionSchema(sumSolution))
	b := setup(t, setupOpts{defs: []*job.Definition{stubborn}, cfg: solvekit.Config{StopGrace: 200 * time.Millisecond}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "stubborn", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)
	require.Eventually(t, func() bool {
		n, err := b.rdb.Exists(ctx, "{solvekit}:x:"+e.ID+":inc").Result()
		require.NoError(t, err)
		return n == 1
	}, patience.Scale(10*time.Second), 5*time.Millisecond)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	select {
	case <-returned:
		t.Fatal("the func was expected to be still running")
	default:
	}
	require.JSONEq(t, `{"sum":7}`, string(b.solution(t, e.ID)))
	close(release)
	<-returned
	// The late return changes nothing.
	require.Never(t, func() bool {
		got, err := b.svc.Get(ctx, e.ID)
		require.NoError(t, err)
		return got.State != job.StateStopped || !got.FinishedAt.Equal(*e.FinishedAt)
	}, 300*time.Millisecond, 20*time.Millisecond)
	require.JSONEq(t, `{"sum":7}`, string(b.solution(t, e.ID)))
}

// TestCancelFlagSeenByHeartbeat sets the cancel flag without a pub/sub
// message (as if it were missed): the worker's heartbeat notices it.
func TestCancelFlagSeenByHeartbeat(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{improver("improve")},
		cfg: solvekit.Config{HeartbeatInterval: 100 * time.Millisecond}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)
	require.NoError(t, b.rdb.HSet(ctx, "{solvekit}:x:"+e.ID, "cancel", "1").Err())
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, e.State)
}

// TestSyncCallerGoneStops: a sync job whose caller's context ends is
// recorded as stopped with its incumbent. The caller goes once the job has
// published its incumbent (an event, not a timer that a loaded machine
// can outrun).
func TestSyncCallerGoneStops(t *testing.T) {
	published := make(chan struct{})
	def := job.Sync("slowsync", func(ctx context.Context, jc *job.Context) (any, error) {
		_ = jc.Incumbent(map[string]float64{"sum": 1}, 1)
		close(published)
		<-ctx.Done()
		return nil, ctx.Err()
	}, job.WithSolutionSchema(sumSolution))
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{def}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-published; cancel() }()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "slowsync", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateStopped, e.State)
	require.True(t, e.HasSolution)
}

// TestCancelInStartWindow cancels an execution from another process
// between the worker's Start of the attempt and its registration in the
// worker's runtime, and lets the notification arrive inside that window.
// The heartbeat (the old fallback) is made too slow to help. The job must
// still be cancelled at once and the execution end stopped.
func TestCancelInStartWindow(t *testing.T) {
	sawStop := make(chan bool, 1)
	def := job.Async("window", func(ctx context.Context, jc *job.Context) (any, error) {
		select {
		case <-ctx.Done():
			sawStop <- true
			return nil, ctx.Err()
		case <-time.After(20 * time.Second):
			sawStop <- false
			return map[string]int{"ran": 1}, nil
		}
	})
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{def},
		cfg: solvekit.Config{HeartbeatInterval: time.Hour}})
	ctx := context.Background()
	other, err := solvekit.New(context.Background(), solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger()})
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Register(def))

	solvekit.SetAfterStart(b.svc, func(id string) {
		heard := solvekit.CancelsHeard(b.svc)
		if err := other.Cancel(ctx, id); err != nil {
			t.Errorf("cancel in the start window: %v", err)
			return
		}
		// The worker hears the cancel before it registers the attempt.
		deadline := time.Now().Add(10 * time.Second)
		for solvekit.CancelsHeard(b.svc) == heard && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = b.svc.Work(wctx) }()
	defer func() { stop(); <-done }()

	e, err := other.Submit(ctx, solvekit.SubmitRequest{JobType: "window", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	select {
	case stopped := <-sawStop:
		require.True(t, stopped, "the job ran to its end: the cancel was lost")
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not return")
	}
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	require.True(t, e.CancelReq)
}

// ownLimit improves an incumbent until the time limit its config names
// (in ms) ends its search, or its context ends; then it returns its best
// with solver status time_limit, as a solver with its own limit does.
func ownLimit(opts ...job.Option) *job.Definition {
	return job.Async("ownlimit", func(ctx context.Context, jc *job.Context) (any, error) {
		var cfg struct {
			LimitMS int `json:"limit_ms"`
		}
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		search, cancel := context.WithTimeout(ctx, time.Duration(cfg.LimitMS)*time.Millisecond)
		defer cancel()
		best := 0.0
		for i := 1; search.Err() == nil; i++ {
			best = float64(i)
			if err := jc.Incumbent(map[string]float64{"sum": best}, best); err != nil {
				return nil, err
			}
			select {
			case <-search.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		return job.Result{Solution: map[string]float64{"sum": best}, Objective: job.Float(best), Status: job.StatusTimeLimit}, nil
	}, append([]job.Option{job.WithSolutionSchema(sumSolution)}, opts...)...)
}

// TestOwnTimeLimitSucceeds: a job whose own time limit (its config's)
// ends the search and that returns its best solution succeeds, with
// solver status time_limit and that solution: reaching the limit it was
// asked to stop at is not a failure. timed_out is for a job cut off by the
// attempt's hard limit (the execution's timeout).
func TestOwnTimeLimitSucceeds(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{ownLimit(job.WithTimeout(time.Minute))}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "ownlimit", Instance: json.RawMessage(`{}`),
		Config: json.RawMessage(`{"limit_ms":200}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
	require.True(t, e.HasSolution)
	require.Nil(t, e.Error)
	sol := b.solution(t, e.ID)
	var s struct{ Sum float64 }
	require.NoError(t, json.Unmarshal(sol, &s))
	require.Positive(t, s.Sum)
	require.Equal(t, s.Sum, *e.Objective)

	// The same job cut off by the execution's timeout before its own
	// limit: timed_out, status time_limit, its best kept.
	e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "ownlimit", Instance: json.RawMessage(`{}`),
		Config: json.RawMessage(`{"limit_ms":600000}`), Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateTimedOut, e.State)
	require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
	require.True(t, e.HasSolution)
}

// whichSolver answers with the solver its job Context names, so a test
// sees which solver an attempt ran.
func whichSolver() *job.Definition {
	return job.Async("which", func(ctx context.Context, jc *job.Context) (any, error) {
		var cfg struct{ Solver string }
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		return map[string]string{"ran": jc.Solver, "config": cfg.Solver}, nil
	}, job.WithSolvers("alpha", "alpha", "beta"))
}

// TestRelaunchChangesSolver relaunches with a config that names another
// solver: the new attempt runs that solver and the record names it. A
// relaunch without config keeps the solver; a config naming none runs the
// default; an unknown solver is refused and changes nothing.
func TestRelaunchChangesSolver(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{whichSolver()}})
	ctx := context.Background()
	ran := func(id string) map[string]string {
		t.Helper()
		sol := b.solution(t, id)
		var got map[string]string
		require.NoError(t, json.Unmarshal(sol, &got))
		return got
	}
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "which", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, "alpha", e.Solver)
	require.Equal(t, "alpha", ran(e.ID)["ran"])

	e, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"solver":"beta"}`)})
	require.NoError(t, err)
	require.Equal(t, "beta", e.Solver, "the relaunched record names the new solver")
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, "beta", e.Solver)
	require.Equal(t, map[string]string{"ran": "beta", "config": "beta"}, ran(e.ID))

	// No config: the solver stays.
	_, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, 3, e.Attempt)
	require.Equal(t, "beta", ran(e.ID)["ran"])

	// A new config naming no solver: the default runs.
	_, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, 4, e.Attempt)
	require.Equal(t, "alpha", e.Solver)
	require.Equal(t, "alpha", ran(e.ID)["ran"])

	// An unknown solver is refused; nothing changes.
	_, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"solver":"gamma"}`)})
	require.ErrorIs(t, err, job.ErrInvalid)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, got.State)
	require.Equal(t, 4, got.Attempt)
	require.Equal(t, "alpha", got.Solver)
}

var sumSchema = []byte(`{"type":"object","required":["values"],"properties":{"values":{"type":"array","items":{"type":"number","minimum":0}}},"additionalProperties":false}`)
var sumConfig = []byte(`{"type":"object","properties":{"scale":{"type":"number","default":1},"mode":{"enum":["fast","slow"],"default":"fast"}}}`)
var sumSolution = []byte(`{"type":"object","required":["sum"],"properties":{"sum":{"type":"number"}}}`)

func sumJob() *job.Definition {
	return job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ Values []float64 }
		var cfg struct{ Scale float64 }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		total := 0.0
		for i, v := range in.Values {
			total += v
			jc.Progress(float64(i+1)/float64(len(in.Values)), "adding")
		}
		jc.Logger.Info("summed", "n", len(in.Values), "total", total)
		return map[string]float64{"sum": total * cfg.Scale}, nil
	}, job.WithInstanceSchema(sumSchema), job.WithConfigSchema(sumConfig), job.WithSolutionSchema(sumSolution))
}

func TestAsyncSucceeds(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2,3.5]}`), Config: json.RawMessage(`{"scale":2}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, e.State)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, job.StatusOptimal, e.SolverStatus)
	require.JSONEq(t, `{"scale":2,"mode":"fast"}`, string(e.Config))
	require.JSONEq(t, `{"sum":13}`, string(b.solution(t, e.ID)))
	logs, err := b.svc.Logs(ctx, e.ID, "", 100)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "summed", logs[0].Message)
	require.EqualValues(t, 13.0/2, logs[0].Attrs["total"])
}

// TestTwoStepSubmit: on Redis Cluster the record and the asynq task are
// written in two steps (their keys live in different slots); the same
// life results.
func TestTwoStepSubmit(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}})
	solvekit.SetFusedSubmit(b.svc, false) // before Work, which reads it
	ctx := context.Background()
	go func() { _ = b.svc.Work(ctx) }() // Close (setup's cleanup) stops it
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[4,5]}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.JSONEq(t, `{"sum":9}`, string(b.solution(t, e.ID)))
}

// TestLogsStoredBeforeTheEnd: whoever sees an execution finished sees all
// of its log, even records logged just before the job returned.
func TestLogsStoredBeforeTheEnd(t *testing.T) {
	chatty := job.Async("chatty", func(ctx context.Context, jc *job.Context) (any, error) {
		for i := 0; i < 300; i++ {
			jc.Logger.Info("line", "i", i)
		}
		return map[string]int{"n": 300}, nil
	})
	b := setup(t, setupOpts{defs: []*job.Definition{chatty}})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 10; i++ {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "chatty", Instance: json.RawMessage(`{}`)})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		logs, err := b.svc.Logs(ctx, id, "", 1000)
		require.NoError(t, err)
		require.Len(t, logs, 300, id)
	}
}

// runCount counts how many times each execution ran, for the checks that
// every execution runs exactly once.
type runCount struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *runCount) ran(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[id]++
}

// distinct is how many executions have run.
func (c *runCount) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs)
}

func (c *runCount) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.runs)
}

// TestConcurrentSubmits submits 2,000 executions at once, with a mix of
// outcomes, and checks that each reaches a terminal state exactly once and
// that the counts by state add up.
func TestConcurrentSubmits(t *testing.T) {
	// 2,000 on a real redis-server. The embedded miniredis fallback slows
	// down sharply with thousands of queued tasks, so it gets fewer.
	n := 2000
	if redistest.Current(t).Kind == "miniredis" {
		n = 300
	}
	var runs runCount
	def := job.Async("mixed", func(ctx context.Context, jc *job.Context) (any, error) {
		runs.ran(jc.ExecutionID)
		var in struct{ I int }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		if in.I%10 == 0 {
			return nil, job.Fail("tenth", nil)
		}
		return map[string]int{"i": in.I}, nil
	})
	b := setup(t, setupOpts{defs: []*job.Definition{def}, cfg: solvekit.Config{Concurrency: 16}})
	ctx := context.Background()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 200)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "mixed", Instance: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
			if err != nil {
				errs <- err
				return
			}
			ids[i] = e.ID
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
	// Wait while the workers make progress: fail only when no execution
	// finished for a while, however long all of them take.
	finished := func() int64 {
		c, err := b.svc.Counts(ctx)
		require.NoError(t, err)
		return c[job.StateSucceeded] + c[job.StateFailed]
	}
	stall := patience.Scale(10 * time.Second)
	for last, lastAt := finished(), time.Now(); last < int64(n); time.Sleep(100 * time.Millisecond) {
		if now := finished(); now != last {
			last, lastAt = now, time.Now()
		}
		if time.Since(lastAt) > stall {
			t.Fatalf("stalled: no execution finished for %s; %d of %d done", stall, last, n)
		}
	}
	c, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, n*9/10, c[job.StateSucceeded])
	require.EqualValues(t, n/10, c[job.StateFailed])
	var total int64
	for _, v := range c {
		total += v
	}
	require.EqualValues(t, n, total, "counts by state add up")
	list, count, err := b.svc.List(ctx, solvekit.ListOptions{Limit: 1000})
	require.NoError(t, err)
	require.EqualValues(t, n, count)
	require.Len(t, list, min(n, 1000))
	// asynq agrees: every task was processed once, none is left over.
	for deadline := time.Now().Add(patience.Scale(10 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		info, err := solvekit.InspectorOf(b.svc).GetQueueInfo(def.QueueName())
		require.NoError(t, err)
		if info.Active == 0 && info.Pending == 0 && info.ProcessedTotal == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("asynq's queue: active %d, pending %d, processed %d of %d, failed %d, retry %d, archived %d",
				info.Active, info.Pending, info.ProcessedTotal, n, info.Failed, info.Retry, info.Archived)
		}
	}
	info, err := solvekit.InspectorOf(b.svc).GetQueueInfo(def.QueueName())
	require.NoError(t, err)
	require.Zero(t, info.Failed+info.Retry+info.Archived)
	got := runs.snapshot()
	require.Len(t, got, n)
	for id, k := range got {
		require.Equal(t, 1, k, "execution %s ran %d times", id, k)
	}
}

// TestWorkShutdownWhileTasksArrive stops Work again and again while
// submitters keep a stream of short tasks coming, so that handlers start
// and end around the moment Work begins to drain. Work used to count its
// handlers with a sync.WaitGroup whose Wait ran while handlers still
// called Add, which panics ("WaitGroup is reused before previous Wait has
// returned"). Every cycle must return cleanly, and after the last one
// every submitted execution ends succeeded exactly once.
func TestWorkShutdownWhileTasksArrive(t *testing.T) {
	var runs runCount
	def := job.Async("tick", func(ctx context.Context, jc *job.Context) (any, error) {
		runs.ran(jc.ExecutionID)
		return map[string]int{"ok": 1}, nil
	})
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{def},
		cfg: solvekit.Config{Concurrency: 8, ShutdownTimeout: 2 * time.Second, TaskCheckInterval: time.Millisecond}})
	ctx := context.Background()

	var ids []string
	const cycles, perCycle = 25, 40
	for c := 0; c < cycles; c++ {
		ranBefore := runs.distinct()
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.svc.Work(wctx) }()
		// Tasks keep arriving while Work starts, runs and stops.
		submitted := make(chan []string, 1)
		go func() {
			var got []string
			for i := 0; i < perCycle; i++ {
				e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "tick", Instance: json.RawMessage(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i))})
				if err != nil {
					t.Errorf("submit: %v", err)
					break
				}
				got = append(got, e.ID)
			}
			submitted <- got
		}()
		// Stop once some have run, while the rest are still coming.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if runs.distinct() >= ranBefore+perCycle/4 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("cycle %d: Work did not return", c)
		}
		ids = append(ids, <-submitted...)
	}

	// A last Work runs what is left; every execution ends succeeded once.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.svc.Work(wctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Len(t, ids, cycles*perCycle)
	require.Eventually(t, func() bool {
		n, err := b.svc.Counts(ctx)
		require.NoError(t, err)
		return n[job.StateSucceeded] == int64(len(ids))
	}, 60*time.Second, 20*time.Millisecond, "every execution succeeds")
	got := runs.snapshot()
	for _, id := range ids {
		require.Equal(t, 1, got[id], "%s ran once", id)
	}
}
