package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// recorder collects the transitions a subscriber receives.
type recorder struct {
	mu  sync.Mutex
	got []solvekit.Transition
}

func (r *recorder) add(tr solvekit.Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, tr)
}

// of returns the transitions of execution id received so far.
func (r *recorder) of(id string) []solvekit.Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []solvekit.Transition
	for _, tr := range r.got {
		if tr.ID == id {
			out = append(out, tr)
		}
	}
	return out
}

// wait waits until execution id has n transitions and returns them as
// "from>to:reason@attempt" steps, with the transitions.
func (r *recorder) wait(t *testing.T, id string, n int) ([]string, []solvekit.Transition) {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.of(id)) >= n }, patience.Scale(30*time.Second), 5*time.Millisecond,
		"transitions of %s: %v", id, steps(r.of(id)))
	trs := r.of(id)
	return steps(trs), trs
}

func steps(trs []solvekit.Transition) []string {
	out := make([]string, len(trs))
	for i, tr := range trs {
		out[i] = fmt.Sprintf("%s>%s:%s@%d", tr.From, tr.To, tr.Reason, tr.Attempt)
	}
	return out
}

// TestSubscribeAsyncLifecycle: a subscriber sees an async job queued,
// started and finished, then relaunched and run again, with the job type,
// the solver status and this worker's ID.
func TestSubscribeAsyncLifecycle(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	var r recorder
	defer b.svc.Subscribe(r.add)()
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	waitFor(t, b, e.ID, 10*time.Second)
	got, trs := r.wait(t, e.ID, 3)
	require.Equal(t, []string{">queued:submit@1", "queued>running:start@1", "running>succeeded:finish@1"}, got)
	for _, tr := range trs {
		require.Equal(t, "sum", tr.JobType)
		require.Equal(t, "default", tr.Queue)
		require.Equal(t, b.svc.WorkerID(), tr.Worker)
		require.False(t, tr.At.IsZero())
	}
	require.Equal(t, job.StatusOptimal, trs[2].SolverStatus)

	_, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	got, _ = r.wait(t, e.ID, 6)
	require.Equal(t, []string{"succeeded>queued:relaunch@2", "queued>running:start@2", "running>succeeded:finish@2"}, got[3:])
}

// TestSubscribeSubmitBeforeStart: when a worker of the same process starts
// a job before the submitter has read the create script's reply, the
// subscriber still sees the submit first (the start waits for it).
func TestSubscribeSubmitBeforeStart(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	require.True(t, solvekit.FusedSubmit(b.svc), "a single redis-server takes the one-script submit")
	var r recorder
	defer b.svc.Subscribe(r.add)()
	ctx := context.Background()
	// Hold the submitter until the worker has recorded the start in Redis.
	solvekit.SetAfterCreate(b.svc, func(id string) {
		require.Eventually(t, func() bool {
			e, err := b.svc.Get(ctx, id)
			return err == nil && e.State != job.StateQueued
		}, patience.Scale(30*time.Second), 2*time.Millisecond)
	})
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	waitFor(t, b, e.ID, 10*time.Second)
	got, _ := r.wait(t, e.ID, 3)
	require.Equal(t, []string{">queued:submit@1", "queued>running:start@1", "running>succeeded:finish@1"}, got)
}

// TestSubscribeRetry: an error with retries left requeues the attempt,
// which the subscriber sees with the error.
func TestSubscribeRetry(t *testing.T) {
	flaky := job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
		if jc.Attempt == 1 {
			return nil, errors.New("boom")
		}
		return map[string]int{"ok": 1}, nil
	}, job.WithMaxRetries(1))
	b := setup(t, setupOpts{defs: []*job.Definition{flaky}, cfg: solvekit.Config{RetryDelay: func(int) time.Duration { return 0 }}})
	var r recorder
	defer b.svc.Subscribe(r.add)()
	e, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "flaky", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	got, trs := r.wait(t, e.ID, 5)
	require.Equal(t, []string{">queued:submit@1", "queued>running:start@1", "running>queued:retry@2",
		"queued>running:start@2", "running>succeeded:finish@2"}, got)
	require.NotNil(t, trs[2].Error)
	require.Equal(t, "boom", trs[2].Error.Message)
}

// TestSubscribeCancelQueued: cancelling a queued execution is a transition
// to stopped.
func TestSubscribeCancelQueued(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}})
	var r recorder
	defer b.svc.Subscribe(r.add)()
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)})
	require.NoError(t, err)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	// Delivered synchronously: no wait needed.
	require.Equal(t, []string{">queued:submit@1", "queued>stopped:cancel@1"}, steps(r.of(e.ID)))
}

// TestSubscribeSync: a sync job's transitions are delivered before Submit
// returns.
func TestSubscribeSync(t *testing.T) {
	echo := job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) { return json.RawMessage(jc.Instance), nil })
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{echo}})
	var r recorder
	defer b.svc.Subscribe(r.add)()
	e, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	require.Equal(t, []string{">running:submit@1", "running>succeeded:finish@1"}, steps(r.of(e.ID)))
	require.Equal(t, job.StatusOptimal, r.of(e.ID)[1].SolverStatus)
}

// TestSubscribeLostRequeued: an attempt whose heartbeats stop is requeued
// by the sweeper: lost to queued, then run again.
func TestSubscribeLostRequeued(t *testing.T) {
	b, _ := zombieSetup(t, nil)
	var r recorder
	defer b.svc.Subscribe(r.add)()
	e, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "zombie", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	got, _ := r.wait(t, e.ID, 5)
	require.Equal(t, []string{">queued:submit@1", "queued>running:start@1", "lost>queued:lost@2",
		"queued>running:start@2", "running>succeeded:finish@2"}, got)
}

// TestSubscribePanicAndUnsubscribe: a panicking subscriber is logged and
// breaks neither the worker nor the other subscribers; after unsubscribe,
// a subscriber hears nothing more.
func TestSubscribePanicAndUnsubscribe(t *testing.T) {
	var logs logtest.Buffer
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, cfg: solvekit.Config{Logger: logs.Logger(slog.LevelInfo)}})
	ctx := context.Background()
	unPanic := b.svc.Subscribe(func(solvekit.Transition) { panic("subscriber bug") })
	defer unPanic()
	var first, sentinel recorder
	unFirst := b.svc.Subscribe(first.add)
	defer b.svc.Subscribe(sentinel.add)()

	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 10*time.Second).State)
	first.wait(t, e.ID, 3)
	require.Contains(t, logs.String(), "a Subscribe callback panicked")
	require.Contains(t, logs.String(), "subscriber bug")

	unFirst()
	unFirst() // a second call is harmless
	e2, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[3]}`)})
	require.NoError(t, err)
	waitFor(t, b, e2.ID, 10*time.Second)
	sentinel.wait(t, e2.ID, 3) // every transition of e2 was published
	require.Empty(t, first.of(e2.ID))
	require.True(t, strings.Count(logs.String(), "a Subscribe callback panicked") >= 6)
}

// TestMiddleware: Config.Middleware wraps every job, sync and async, typed
// and untyped, first outermost, with the job Context at hand; a panic in a
// middleware fails the attempt like a panic in the job.
func TestMiddleware(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	trace := func(name string) job.Middleware {
		return func(next job.Func) job.Func {
			return func(ctx context.Context, jc *job.Context) (any, error) {
				require.Same(t, jc, job.FromContext(ctx))
				mu.Lock()
				calls = append(calls, fmt.Sprintf("%s>%s@%d", name, jc.JobType, jc.Attempt))
				mu.Unlock()
				jc.Logger.Info("traced by " + name)
				v, err := next(ctx, jc)
				mu.Lock()
				calls = append(calls, fmt.Sprintf("%s<%s", name, jc.JobType))
				mu.Unlock()
				return v, err
			}
		}
	}
	breaker := func(next job.Func) job.Func {
		return func(ctx context.Context, jc *job.Context) (any, error) {
			if jc.JobType == "broken" {
				panic("middleware bug")
			}
			return next(ctx, jc)
		}
	}
	echo := job.SyncOf("echo", func(ctx context.Context, jc *job.Context, in struct {
		Msg string `json:"msg"`
	}) (map[string]string, error) {
		mu.Lock()
		calls = append(calls, "echo")
		mu.Unlock()
		return map[string]string{"echo": in.Msg}, nil
	})
	broken := job.Async("broken", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil })
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob(), echo, broken},
		cfg: solvekit.Config{Middleware: []job.Middleware{trace("outer"), nil, trace("inner"), breaker}}})
	ctx := context.Background()

	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"msg":"hi"}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, e.State)
	mu.Lock()
	require.Equal(t, []string{"outer>echo@1", "inner>echo@1", "echo", "inner<echo", "outer<echo"}, calls)
	calls = nil
	mu.Unlock()
	logs, err := b.svc.Logs(ctx, e.ID, "", 10)
	require.NoError(t, err)
	require.Len(t, logs, 2)
	require.Equal(t, "traced by outer", logs[0].Message)

	e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 10*time.Second).State)
	mu.Lock()
	require.Equal(t, []string{"outer>sum@1", "inner>sum@1", "inner<sum", "outer<sum"}, calls)
	mu.Unlock()

	e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "broken", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, "panic", e.Error.Kind)
	require.Contains(t, e.Error.Message, "middleware bug")
}

// TestQueuesWithoutTasks: Queues lists a configured queue that never held a
// task (with zero counts), and PauseQueue of an unknown queue is a
// not-found error (asynq answers both with an error of its internal
// package, which solvekit used to pass on).
func TestQueuesWithoutTasks(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, cfg: solvekit.Config{Queues: map[string]int{"default": 1, "urgent": 5}},
		defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	qs, err := b.svc.Queues(ctx)
	require.NoError(t, err)
	require.Len(t, qs, 2)
	require.Equal(t, solvekit.QueueInfo{Name: "urgent"}, *qs[1])
	_, err = b.svc.PauseQueue(ctx, "nowhere", true)
	require.ErrorIs(t, err, job.ErrNotFound)
}
