package solvekit_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// signalLog collects the signals a subscriber receives.
type signalLog struct {
	mu  sync.Mutex
	got []solvekit.Signal
}

func (l *signalLog) add(s solvekit.Signal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, s)
}

// of returns the signals of kind k received so far.
func (l *signalLog) of(k solvekit.SignalKind) []solvekit.Signal {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []solvekit.Signal
	for _, s := range l.got {
		if s.Kind == k {
			out = append(out, s)
		}
	}
	return out
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
