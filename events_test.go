package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/servicewait"
	"github.com/solvekit/solvekit/job"
)

// collector collects what a subscriber receives, safe for concurrent use.
type collector[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, v)
}

// where returns what was received so far and keep accepts.
func (c *collector[T]) where(keep func(T) bool) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []T
	for _, v := range c.got {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// recorder collects the transitions a subscriber receives.
type recorder struct{ collector[solvekit.Transition] }

// of returns the transitions of execution id received so far.
func (r *recorder) of(id string) []solvekit.Transition {
	return r.where(func(tr solvekit.Transition) bool { return tr.ID == id })
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

// TestPauseQueueBeforeFirstTask: a served queue can be paused before any
// task went through it (it was a not-found error): its task then waits,
// the queue is listed as paused with the task pending, and the task runs
// once the queue is resumed. Both task paths are covered: the fused one
// reads the pause state, the public one has to be told.
func TestPauseQueueBeforeFirstTask(t *testing.T) {
	for _, public := range []bool{false, true} {
		t.Run(map[bool]string{false: "fused", true: "public"}[public], func(t *testing.T) {
			b := setup(t, setupOpts{cfg: solvekit.Config{Queues: map[string]int{"default": 1, "urgent": 5}, AsynqPublicAPI: public},
				defs: []*job.Definition{sumJob()}})
			ctx := context.Background()
			qi, err := b.svc.PauseQueue(ctx, "urgent", true)
			require.NoError(t, err)
			require.Equal(t, solvekit.QueueInfo{Name: "urgent", Paused: true}, *qi)
			qi, err = b.svc.PauseQueue(ctx, "urgent", true) // already paused: no error
			require.NoError(t, err)
			require.True(t, qi.Paused)

			e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Queue: "urgent", Instance: json.RawMessage(`{"values":[1,2]}`)})
			require.NoError(t, err)
			qs, err := b.svc.Queues(ctx)
			require.NoError(t, err)
			i := slices.IndexFunc(qs, func(q *solvekit.QueueInfo) bool { return q.Name == "urgent" })
			require.GreaterOrEqual(t, i, 0)
			require.True(t, qs[i].Paused)
			require.Equal(t, 1, qs[i].Pending)
			got, err := b.svc.Get(ctx, e.ID)
			require.NoError(t, err)
			require.Equal(t, job.StateQueued, got.State)

			qi, err = b.svc.PauseQueue(ctx, "urgent", false)
			require.NoError(t, err)
			require.False(t, qi.Paused)
			require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 30*time.Second).State)
		})
	}
}

// signalLog collects the signals a subscriber receives.
type signalLog struct{ collector[solvekit.Signal] }

// of returns the signals of kind k received so far.
func (l *signalLog) of(k solvekit.SignalKind) []solvekit.Signal {
	return l.where(func(s solvekit.Signal) bool { return s.Kind == k })
}

// TestCallbackSignals: every callback attempt is signalled with its
// outcome: a retry then a delivery for a receiver that fails once, a
// final failure when the delivery is given up.
func TestCallbackSignals(t *testing.T) {
	var log signalLog
	rcv := newReceiver(t, 500)
	b := setup(t, setupOpts{cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	defer b.svc.SubscribeSignals(log.add)()
	e := run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: rcv.srv.URL})
	waitCallback(t, b.svc, e.ID)
	outcomes := func(id string) []string {
		var out []string
		for _, s := range log.of(solvekit.SignalCallback) {
			if s.ID == id {
				out = append(out, s.Outcome)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(outcomes(e.ID)) == 2 }, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Equal(t, []string{solvekit.CallbackOutcomeRetry, solvekit.CallbackOutcomeDelivered}, outcomes(e.ID))
	first := log.of(solvekit.SignalCallback)[0]
	require.Equal(t, "sum", first.JobType)
	require.Equal(t, 500, first.StatusCode)
	require.Error(t, first.Err)

	never := newReceiver(t, 500, 500, 500)
	cfg := cbConfig()
	cfg.CallbackMaxAge = time.Millisecond // the first failure is the last
	b2 := setup(t, setupOpts{cfg: cfg, defs: []*job.Definition{sumJob()}})
	defer b2.svc.SubscribeSignals(log.add)()
	e2 := run(t, b2, solvekit.SubmitRequest{JobType: "sum", ResultURL: never.srv.URL})
	waitCallback(t, b2.svc, e2.ID)
	require.Eventually(t, func() bool { return len(outcomes(e2.ID)) == 1 }, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Equal(t, []string{solvekit.CallbackOutcomeFailed}, outcomes(e2.ID))
}

// TestMetricSignalsHeartbeatAndRedis: a worker's heartbeats for a running
// attempt are signalled with their lag, and (with ObserveRedis) a failed
// Redis command of the client is signalled, an absent key is not.
func TestMetricSignalsHeartbeatAndRedis(t *testing.T) {
	var log signalLog
	release := make(chan struct{})
	slow := job.Async("slow", func(ctx context.Context, jc *job.Context) (any, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return 1, nil
	})
	b := setup(t, setupOpts{cfg: solvekit.Config{HeartbeatInterval: 20 * time.Millisecond, ObserveRedis: true},
		defs: []*job.Definition{slow}})
	defer b.svc.SubscribeSignals(log.add)()
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "slow", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(log.of(solvekit.SignalHeartbeat)) >= 3 },
		patience.Scale(10*time.Second), 10*time.Millisecond)
	close(release)
	require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 10*time.Second).State)
	for _, s := range log.of(solvekit.SignalHeartbeat) {
		require.Equal(t, 1, s.Running)
		require.Positive(t, s.Duration)
	}

	require.ErrorIs(t, b.rdb.Get(ctx, "absent").Err(), redis.Nil)
	require.Error(t, b.rdb.Do(ctx, "NOSUCHCOMMAND").Err())
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "absent")
		p.Do(ctx, "NOSUCHCOMMAND")
		return nil
	})
	var errs []solvekit.Signal
	require.Eventually(t, func() bool { errs = log.of(solvekit.SignalRedisError); return len(errs) >= 2 },
		patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Len(t, errs, 2, "an absent key is no error")
	require.Equal(t, "nosuchcommand", errs[0].Command)
	require.Equal(t, solvekit.RedisErrorReply, errs[0].Outcome)
	require.Equal(t, "pipeline", errs[1].Command)
	require.Contains(t, errs[1].Err.Error(), "unknown command")
}

// TestTraceCallHooks: CallHooks wrap Submit, SubmitOnce, SubmitMany and
// Relaunch, the first outermost; the traceparent a hook puts in the ctx is
// what the attempts see, and a relaunch with another traceparent replaces
// it, one without keeps it.
func TestTraceCallHooks(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	var results []solvekit.CallResult
	hook := func(name string) solvekit.CallHook {
		return func(ctx context.Context, c solvekit.Call) (context.Context, func(solvekit.CallResult)) {
			mu.Lock()
			calls = append(calls, name+">"+c.Op+":"+c.JobType)
			mu.Unlock()
			if c.Op == "submit" && name == "outer" {
				ctx = solvekit.WithTraceParent(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			}
			return ctx, func(r solvekit.CallResult) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, name+"<"+c.Op)
				if name == "outer" {
					results = append(results, r)
				}
			}
		}
	}
	seen := make(chan string, 8)
	see := func(next job.Func) job.Func {
		return func(ctx context.Context, jc *job.Context) (any, error) {
			seen <- jc.TraceParent
			return next(ctx, jc)
		}
	}
	b := setup(t, setupOpts{cfg: solvekit.Config{CallHooks: []solvekit.CallHook{hook("outer"), hook("inner")},
		Middleware: []job.Middleware{see}}, defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	in := json.RawMessage(`{"values":[1,2]}`)
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := calls
		calls = nil
		return out
	}

	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in})
	require.NoError(t, err)
	require.Equal(t, []string{"outer>submit:sum", "inner>submit:sum", "inner<submit", "outer<submit"}, take())
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", <-seen)
	waitFor(t, b, e.ID, 10*time.Second)

	other := "00-11111111111111111111111111111111-2222222222222222-01"
	_, err = b.svc.Relaunch(solvekit.WithTraceParent(ctx, other), e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"outer>relaunch:", "inner>relaunch:", "inner<relaunch", "outer<relaunch"}, take())
	require.Equal(t, other, <-seen, "the relaunch's traceparent replaces the submit's")
	require.Equal(t, 2, waitFor(t, b, e.ID, 10*time.Second).Attempt)
	_, err = b.svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	require.Equal(t, other, <-seen, "a relaunch without one keeps it")
	take()

	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "missing", Instance: in})
	require.Error(t, err)
	r1, err := b.svc.SubmitOnce(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, IdempotencyKey: "k"})
	require.NoError(t, err)
	r2, err := b.svc.SubmitOnce(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, r2.Replayed)
	es, err := b.svc.SubmitMany(ctx, []solvekit.SubmitRequest{{JobType: "sum", Instance: in}, {JobType: "sum", Instance: in}})
	require.NoError(t, err)
	require.Equal(t, []string{"outer>submit:missing", "inner>submit:missing", "inner<submit", "outer<submit",
		"outer>submit:sum", "inner>submit:sum", "inner<submit", "outer<submit",
		"outer>submit:sum", "inner>submit:sum", "inner<submit", "outer<submit",
		"outer>submit_many:", "inner>submit_many:", "inner<submit_many", "outer<submit_many"}, take())
	mu.Lock()
	n := len(results)
	last := results[n-4:]
	mu.Unlock()
	require.Error(t, last[0].Err)
	require.Empty(t, last[0].Executions)
	require.Equal(t, r1.Execution.ID, last[1].Executions[0].ID)
	require.False(t, last[1].Replayed)
	require.True(t, last[2].Replayed)
	require.Len(t, last[3].Executions, 2)
	require.Equal(t, es[1].ID, last[3].Executions[1].ID)
}

// gateJob blocks every execution until release is closed.
func gateJob(name string, release <-chan struct{}) *job.Definition {
	return job.Async(name, func(ctx context.Context, jc *job.Context) (any, error) {
		select {
		case <-release:
			return map[string]int{"ok": 1}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}

// waitersGone waits until svc keeps no subscription, pending SUBSCRIBE or
// done-channel subscription on Redis for the ids.
func waitersGone(t *testing.T, b *bundle, svc *solvekit.Service, ids ...string) {
	t.Helper()
	ctx := context.Background()
	var chans []string
	for _, id := range ids {
		chans = append(chans, solvekit.StoreOf(svc).DoneChannel(id))
	}
	require.Eventually(t, func() bool {
		w, p := solvekit.WaitState(svc)
		if w != 0 || p != 0 {
			return false
		}
		n, err := b.rdb.PubSubNumSub(ctx, chans...).Result()
		require.NoError(t, err)
		for _, c := range chans {
			if n[c] != 0 {
				return false
			}
		}
		return true
	}, patience.Scale(10*time.Second), 5*time.Millisecond, "a wait left a subscription behind")
}

// waitGoroutines counts the goroutines inside a Wait.
func waitGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "solvekit.(*Service).Wait(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// noWaitGoroutines waits until no goroutine is inside a Wait.
func noWaitGoroutines(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return waitGoroutines() == 0 },
		patience.Scale(10*time.Second), 10*time.Millisecond, "goroutines left in Wait")
}

// TestWaitManyWaiters: many Waits in another process, several on each
// execution, share one subscription per execution, are all woken by the
// finishes (one notification per execution), and leave no subscription,
// bookkeeping or goroutine behind.
func TestWaitManyWaiters(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{gateJob("gate", release)}})
	ctx := context.Background()
	waiter, err := solvekit.New(ctx, solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger()})
	require.NoError(t, err)
	defer waiter.Close()
	const execs, per = 12, 5
	var ids []string
	for range execs {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	var blocked atomic.Int64
	solvekit.SetWaitBlocked(waiter, func(string) { blocked.Add(1) })
	var wg sync.WaitGroup
	errs := make(chan error, execs*per)
	for _, id := range ids {
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, err := waiter.Wait(ctx, id)
				if err == nil && e.State != job.StateSucceeded {
					err = &job.Error{Code: job.CodeInternal, Message: "woken before the end: " + string(e.State)}
				}
				errs <- err
			}()
		}
	}
	require.Eventually(t, func() bool { return blocked.Load() >= execs*per },
		patience.Scale(10*time.Second), 5*time.Millisecond, "every Wait reads the record once it is subscribed")
	for _, id := range ids {
		done := solvekit.StoreOf(waiter).DoneChannel(id)
		n, err := b.rdb.PubSubNumSub(ctx, done).Result()
		require.NoError(t, err)
		require.Equal(t, int64(1), n[done], "one subscription per execution, however many wait on it")
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(execs), solvekit.DoneHeard(waiter), "one notification per execution")
	waitersGone(t, b, waiter, ids...)
	noWaitGoroutines(t)
}

// TestWaitCancelled: a Wait whose context ends returns the record as it
// is with the context's error, and its subscription goes; another Wait
// on the same execution is not disturbed.
func TestWaitCancelled(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{gateJob("gate", release)}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)

	var blocked atomic.Int64
	solvekit.SetWaitBlocked(b.svc, func(string) { blocked.Add(1) })
	stay := make(chan *job.Execution, 1)
	go func() {
		x, _ := b.svc.Wait(ctx, e.ID)
		stay <- x
	}()
	cctx, cancel := context.WithCancel(ctx)
	got := make(chan error, 1)
	var x *job.Execution
	go func() {
		var err error
		x, err = b.svc.Wait(cctx, e.ID)
		got <- err
	}()
	require.Eventually(t, func() bool { return blocked.Load() == 2 }, patience.Scale(10*time.Second), 5*time.Millisecond)
	cancel()
	select {
	case err := <-got:
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, job.StateRunning, x.State, "the record as it was")
	case <-time.After(patience.Scale(10 * time.Second)):
		t.Fatal("a cancelled Wait did not return")
	}
	w, _ := solvekit.WaitState(b.svc)
	require.Equal(t, 1, w, "the other Wait keeps the subscription")
	close(release)
	select {
	case x := <-stay:
		require.Equal(t, job.StateSucceeded, x.State)
	case <-time.After(patience.Scale(10 * time.Second)):
		t.Fatal("the remaining Wait was not woken")
	}
	waitersGone(t, b, b.svc, e.ID)
	noWaitGoroutines(t)

	// Cancelled before it starts: the record, at once.
	cctx, cancel = context.WithCancel(ctx)
	cancel()
	x, err = b.svc.Wait(cctx, e.ID)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, job.StateSucceeded, x.State)
	waitersGone(t, b, b.svc, e.ID)
}

// TestWaitAfterTheEnd: a Wait that starts after the execution ended
// returns it at once, with no notification to hear.
func TestWaitAfterTheEnd(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{echoAsync()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateSucceeded)
	heard := solvekit.DoneHeard(b.svc)
	x, err := b.svc.Wait(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, x.State)
	require.Equal(t, heard, solvekit.DoneHeard(b.svc))
	waitersGone(t, b, b.svc, e.ID)
}

// TestSubmitWait covers the REST layer's submit-and-wait: it answers the
// terminal record of a job that ends within the wait, the queued record
// and the deadline when it does not, the terminal record of a sync job,
// and leaves no subscription behind.
func TestSubmitWait(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{echoAsync(), gateJob("gate", release),
		job.Sync("now", func(ctx context.Context, jc *job.Context) (any, error) { return map[string]int{"n": 1}, nil })}})
	ctx := context.Background()
	long := patience.Scale(30 * time.Second)

	e, replayed, werr, err := servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)}, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.False(t, replayed)
	require.Equal(t, job.StateSucceeded, e.State)
	require.True(t, e.HasSolution)

	// With an idempotency key: the repeat answers the first execution,
	// ended, and says it replayed.
	keyed := solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":2}`), IdempotencyKey: "k1"}
	first, replayed, werr, err := servicewait.SubmitWait(b.svc, ctx, keyed, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.False(t, replayed)
	require.Equal(t, job.StateSucceeded, first.State)
	again, replayed, werr, err := servicewait.SubmitWait(b.svc, ctx, keyed, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.True(t, replayed)
	require.Equal(t, first.ID, again.ID)

	e, _, werr, err = servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)}, 50*time.Millisecond)
	require.NoError(t, err)
	require.ErrorIs(t, werr, context.DeadlineExceeded)
	require.False(t, e.State.Terminal())
	gated := e.ID

	e, _, werr, err = servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "now", Instance: json.RawMessage(`{}`)}, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.Equal(t, job.StateSucceeded, e.State)

	_, _, _, err = servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "nope", Instance: json.RawMessage(`{}`)}, long)
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))

	close(release)
	waitState(t, b, gated, job.StateSucceeded)
	waitersGone(t, b, b.svc, gated)
}

// TestWaitThroughAnOutage: Waits blocked when Redis stops return an
// unavailable error instead of hanging, leave nothing behind, and the
// service still closes.
func TestWaitThroughAnOutage(t *testing.T) {
	rdb, stop := redistest.Stoppable(t, 4)
	release := make(chan struct{})
	defer close(release)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, svc.Register(gateJob("gate", release)))
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)

	var blocked atomic.Int64
	solvekit.SetWaitBlocked(svc, func(string) { blocked.Add(1) })
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := svc.Wait(ctx, e.ID)
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return blocked.Load() == n }, patience.Scale(10*time.Second), 5*time.Millisecond)
	stop()
	for range n {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, job.ErrUnavailable)
		case <-time.After(patience.Scale(30 * time.Second)):
			t.Fatal("a Wait hung through the outage")
		}
	}
	require.Eventually(t, func() bool { w, p := solvekit.WaitState(svc); return w == 0 && p == 0 },
		patience.Scale(10*time.Second), 5*time.Millisecond)
	noWaitGoroutines(t)
	closed := make(chan error, 1)
	go func() { closed <- svc.Close() }()
	select {
	case <-closed:
	case <-time.After(patience.Scale(30 * time.Second)):
		t.Fatal("Close hung after the outage")
	}
	// After Close, a Wait does not hang on a subscription that will never
	// be sent.
	wctx, cancel := context.WithTimeout(ctx, patience.Scale(10*time.Second))
	defer cancel()
	_, err = svc.Wait(wctx, e.ID)
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}

var cbSecret = []byte("test-callback-secret")

// receiver is a callback receiver: it records each request and answers
// with the status its plan gives the n-th request (200 past the plan).
type receiver struct {
	mu   sync.Mutex
	reqs []received
	plan []int
	srv  *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, plan ...int) *receiver {
	r := &receiver{plan: plan}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.reqs)
		r.reqs = append(r.reqs, received{req.Header.Clone(), b})
		code := http.StatusOK
		if n < len(r.plan) {
			code = r.plan[n]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// cbConfig is a service config that delivers callbacks promptly to
// loopback receivers.
func cbConfig() solvekit.Config {
	return solvekit.Config{CallbackSecret: cbSecret, CallbackAllowPrivate: true,
		CallbackInterval: 20 * time.Millisecond,
		CallbackBackoff:  func(int) time.Duration { return 20 * time.Millisecond }}
}

// waitCallback waits until execution id's callback delivery is no longer
// pending and returns the record.
func waitCallback(t *testing.T, svc *solvekit.Service, id string) *job.Execution {
	t.Helper()
	return waitUntil(t, svc, id, 20*time.Second, func(e *job.Execution) bool {
		return e.CallbackState == job.CallbackDelivered || e.CallbackState == job.CallbackFailed
	}, "callback of %s still pending", id)
}

// callbackRun runs a sum execution whose result_url is rcv's, on a
// Service with cbConfig changed by tweak (when not nil).
func callbackRun(t *testing.T, rcv *receiver, tweak func(*solvekit.Config)) (*bundle, *job.Execution) {
	t.Helper()
	cfg := cbConfig()
	if tweak != nil {
		tweak(&cfg)
	}
	b := setup(t, setupOpts{cfg: cfg, defs: []*job.Definition{sumJob()}})
	return b, run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: rcv.srv.URL})
}

// waitAttempts waits until execution id has n callback attempts.
func waitAttempts(t *testing.T, b *bundle, id string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		atts, err := b.svc.Callbacks(context.Background(), id)
		return err == nil && len(atts) == n
	}, patience.Scale(20*time.Second), 10*time.Millisecond)
}

func TestCallbackNativeSigned(t *testing.T) {
	rcv := newReceiver(t)
	b := setup(t, setupOpts{cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	e := run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: rcv.srv.URL + "/hook"})
	require.Equal(t, rcv.srv.URL+"/hook", e.ResultURL)
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Equal(t, 1, e.CallbackAttempts)

	got := rcv.got()
	require.Len(t, got, 1)
	r := got[0]
	require.NoError(t, solvekit.VerifyCallback(cbSecret, r.header.Get("Solvekit-Signature"), r.body, 5*time.Minute))
	require.ErrorIs(t, solvekit.VerifyCallback([]byte("other"), r.header.Get("Solvekit-Signature"), r.body, 5*time.Minute),
		solvekit.ErrCallbackSignature)
	require.ErrorIs(t, solvekit.VerifyCallback(cbSecret, r.header.Get("Solvekit-Signature"), append(r.body, ' '), 0),
		solvekit.ErrCallbackSignature)
	require.Equal(t, e.ID+":1", r.header.Get("Solvekit-Delivery"))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Empty(t, r.header.Get("Authorization"))
	var body job.Execution
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.Equal(t, e.ID, body.ID)
	require.Equal(t, job.StateSucceeded, body.State)

	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Equal(t, 200, atts[0].StatusCode)
	require.Empty(t, atts[0].Error)
	require.Equal(t, e.ID+":1", atts[0].Delivery)
}

func TestCallbackRetriesThenDelivered(t *testing.T) {
	rcv := newReceiver(t, 500, 500)
	b, e := callbackRun(t, rcv, nil)
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Equal(t, 3, e.CallbackAttempts)
	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 3)
	for i, want := range []int{500, 500, 200} {
		require.Equal(t, want, atts[i].StatusCode, "attempt %d", i+1)
		require.Equal(t, i+1, atts[i].N)
		require.Equal(t, e.ID+":1", atts[i].Delivery)
	}
	require.Contains(t, atts[0].Error, "500")
	got := rcv.got()
	require.Len(t, got, 3)
	for _, r := range got {
		require.Equal(t, e.ID+":1", r.header.Get("Solvekit-Delivery"), "every retry carries the same delivery id")
	}
}

func TestCallbackGivesUpAfterMaxAge(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackMaxAge = time.Millisecond // the first failure is the last
	})
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackFailed, e.CallbackState)
	require.Equal(t, 1, e.CallbackAttempts)
	require.Len(t, rcv.got(), 1)
}

func TestCallbackRefusesPrivateAddress(t *testing.T) {
	rcv := newReceiver(t)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackAllowPrivate = false
	})
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackFailed, e.CallbackState, "a refused address is not retried")
	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Zero(t, atts[0].StatusCode)
	require.Contains(t, atts[0].Error, "refused")
	require.Empty(t, rcv.got(), "no request reaches a refused address")

	// A name that resolves to loopback is refused too (the check runs on
	// the dialled address).
	e2 := run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: "http://localhost:" + port(rcv.srv.URL)})
	e2 = waitCallback(t, b.svc, e2.ID)
	require.Equal(t, job.CallbackFailed, e2.CallbackState)
	require.Empty(t, rcv.got())
}

func TestCallbackAddressGuard(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, cfg: solvekit.Config{
		CallbackAllowedNets: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}})
	for addr, ok := range map[string]bool{
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.3.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd00:ec2::254": false,
		"0.0.0.0": false, "::": false, "100.100.100.200": false, "::ffff:127.0.0.1": false,
		"10.9.1.2": true, "8.8.8.8": true, "2001:4860:4860::8888": true, "93.184.216.34": true,
	} {
		require.Equal(t, ok, solvekit.CallbackAddrAllowed(b.svc, netip.MustParseAddr(addr).Unmap()), addr)
	}
}

func TestCallbackSubmitValidation(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}}) // no CallbackSecret
	in := json.RawMessage(`{"values":[1]}`)
	_, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, ResultURL: "https://example.com/x"})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "a native callback needs a secret to be signed with")
	require.Contains(t, err.Error(), "CallbackSecret")

	b2 := setup(t, setupOpts{noWork: true, cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	for _, u := range []string{"ftp://example.com/x", "/relative", "example.com/x", "http://", "javascript:alert(1)"} {
		_, err := b2.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, ResultURL: u})
		require.Equal(t, job.CodeInvalid, job.ErrorCode(err), u)
	}
	_, err = b2.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, ResultURL: "https://example.com/x", CallbackFormat: "nope"})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = b2.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, CallbackAuthorization: "k"})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
}

// A queued execution stopped by a cancel ends in the cancel script: its
// callback is scheduled there, and carries the stopped state.
func TestCallbackOnCancelOfQueued(t *testing.T) {
	rcv := newReceiver(t)
	b := setup(t, setupOpts{noWork: true, cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), ResultURL: rcv.srv.URL})
	require.NoError(t, err)
	require.Empty(t, e.CallbackState)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	got := rcv.got()
	require.Len(t, got, 1)
	var body job.Execution
	require.NoError(t, json.Unmarshal(got[0].body, &body))
	require.Equal(t, job.StateStopped, body.State)
}

// A delivery is stored in Redis: a process that ends an execution without
// delivering (here one with callbacks disabled, as if it died) leaves it
// to the next one.
func TestCallbackSurvivesRestart(t *testing.T) {
	rcv := newReceiver(t)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.DisableCallbacks = true
	})
	require.Equal(t, job.CallbackPending, e.CallbackState)
	require.Empty(t, rcv.got())

	cfg2 := cbConfig()
	cfg2.Redis, cfg2.Logger = b.rdb, b.svc2Logger()
	svc2, err := solvekit.New(context.Background(), cfg2)
	require.NoError(t, err)
	defer svc2.Close()
	e = waitCallback(t, svc2, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Len(t, rcv.got(), 1)
}

// Deleting an execution removes its callback attempts and its entry in
// the due set.
func TestCallbackDeletedWithExecution(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackBackoff = func(int) time.Duration { return time.Hour }
	})
	waitAttempts(t, b, e.ID, 1)
	require.NoError(t, b.svc.Delete(context.Background(), e.ID))
	require.Empty(t, footprint(t, b.rdb, e.ID))
	_, err := b.svc.Callbacks(context.Background(), e.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
}

// port is the port of URL u.
func port(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	return p.Port()
}

// A relaunched execution that ends again gets a new delivery, with the
// next delivery id.
func TestCallbackAfterRelaunch(t *testing.T) {
	rcv := newReceiver(t)
	b, e := callbackRun(t, rcv, nil)
	waitCallback(t, b.svc, e.ID)
	_, err := b.svc.Relaunch(context.Background(), e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	waitFor(t, b, e.ID, 10*time.Second)
	require.Eventually(t, func() bool { return len(rcv.got()) == 2 }, patience.Scale(20*time.Second), 10*time.Millisecond)
	got := rcv.got()
	require.Equal(t, e.ID+":1", got[0].header.Get("Solvekit-Delivery"))
	require.Equal(t, e.ID+":2", got[1].header.Get("Solvekit-Delivery"))
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Equal(t, 1, e.CallbackAttempts, "attempts of the current delivery")
	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 2, "the log keeps both deliveries")
}

// The retention sweep removes an expired execution's callback attempts
// and its pending delivery with it.
func TestCallbackRemovedByRetention(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackBackoff = func(int) time.Duration { return time.Hour }
		cfg.DisableRetention = false
	})
	waitAttempts(t, b, e.ID, 1)
	require.NotEmpty(t, footprint(t, b.rdb, e.ID))
	n, _, _, err := solvekit.RetentionSweeper(b.svc)(time.Now().Add(8 * 24 * time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, footprint(t, b.rdb, e.ID), "nothing of the execution is left, its callbacks included")
}

// Executions submitted together (SubmitMany) keep their callbacks, with
// their own authorization.
func TestCallbackSubmitMany(t *testing.T) {
	rcv := newReceiver(t)
	b := setup(t, setupOpts{cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	in := json.RawMessage(`{"values":[1]}`)
	es, err := b.svc.SubmitMany(context.Background(), []solvekit.SubmitRequest{
		{JobType: "sum", Instance: in, ResultURL: rcv.srv.URL, CallbackAuthorization: "key-1"},
		{JobType: "sum", Instance: in, ResultURL: rcv.srv.URL, CallbackAuthorization: "key-2"},
		{JobType: "sum", Instance: in},
	})
	require.NoError(t, err)
	for _, e := range es[:2] {
		require.Equal(t, job.CallbackDelivered, waitCallback(t, b.svc, e.ID).CallbackState)
	}
	auth := map[string]string{}
	for _, r := range rcv.got() {
		var e job.Execution
		require.NoError(t, json.Unmarshal(r.body, &e))
		auth[e.ID] = r.header.Get("Authorization")
	}
	require.Equal(t, map[string]string{es[0].ID: "key-1", es[1].ID: "key-2"}, auth)
	e := waitFor(t, b, es[2].ID, 10*time.Second)
	require.Empty(t, e.CallbackState)
}

// TestWorkersListTheirExecutions: a worker lists the executions it runs
// (from its heartbeat to asynq), whatever its Config.WorkerID, so they can
// be told apart from the ones it does not run.
func TestWorkersListTheirExecutions(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	b := setup(t, setupOpts{cfg: solvekit.Config{WorkerID: "custom-worker"}, defs: retentionDefs(release)})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "block", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, "custom-worker", waitUntil(t, b.svc, e.ID, 30*time.Second, func(x *job.Execution) bool { return x.State == job.StateRunning }).Worker)
	var ws []*solvekit.WorkerInfo
	require.Eventually(t, func() bool {
		ws, err = b.svc.Workers(ctx)
		require.NoError(t, err)
		return len(ws) == 1 && slices.Equal(ws[0].Executions, []string{e.ID})
	}, patience.Scale(30*time.Second), 50*time.Millisecond, "the worker lists its execution: %+v", ws)
	require.Equal(t, 1, ws[0].Active)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	require.Eventually(t, func() bool {
		ws, err = b.svc.Workers(ctx)
		require.NoError(t, err)
		return len(ws) == 1 && len(ws[0].Executions) == 0
	}, patience.Scale(30*time.Second), 50*time.Millisecond, "the stopped execution leaves the list: %+v", ws)
}

// TestHeartbeatFailureSignals: a heartbeat that cannot be written is
// signalled too (Outcome HeartbeatFailed, with its error), and its lag
// keeps growing from the last written one, so that an outage shows in the
// lag while it lasts, not only once Redis is back.
func TestHeartbeatFailureSignals(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	faults := &redistest.Faults{Only: func(cmd redis.Cmder) bool {
		// The heartbeat script: a key per running attempt, then the
		// time, this worker's name, and each attempt's id and number.
		args := cmd.Args()
		n, _ := args[2].(int)
		return n > 0 && len(args) == 5+3*n && args[4+n] == "hb-worker"
	}}
	var log signalLog
	b := setup(t, setupOpts{hook: faults, defs: retentionDefs(release), cfg: solvekit.Config{WorkerID: "hb-worker",
		HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: time.Hour}})
	defer b.svc.SubscribeSignals(log.add)()
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "block", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitUntil(t, b.svc, e.ID, 30*time.Second, func(x *job.Execution) bool { return x.State == job.StateRunning })
	beats := func(outcome string) []solvekit.Signal {
		return log.where(func(s solvekit.Signal) bool { return s.Kind == solvekit.SignalHeartbeat && s.Outcome == outcome })
	}
	require.Eventually(t, func() bool { return len(beats("")) > 0 }, patience.Scale(30*time.Second), 10*time.Millisecond)

	faults.Refuse.Store(-1)
	require.Eventually(t, func() bool { return len(beats(solvekit.HeartbeatFailed)) >= 3 }, patience.Scale(30*time.Second), 10*time.Millisecond)
	failed := beats(solvekit.HeartbeatFailed)
	for i, s := range failed {
		require.Error(t, s.Err)
		require.Equal(t, 1, s.Running)
		if i > 0 {
			require.Greater(t, s.Duration, failed[i-1].Duration, "the lag grows while heartbeats fail")
		}
	}
	faults.Refuse.Store(0)
	written := len(beats(""))
	require.Eventually(t, func() bool { return len(beats("")) > written }, patience.Scale(30*time.Second), 10*time.Millisecond)
	first := beats("")[written]
	require.GreaterOrEqual(t, first.Duration, failed[len(failed)-1].Duration, "the first written heartbeat after the outage has the outage's lag")
}
