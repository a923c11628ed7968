// Package solvekittest helps a user's tests run their solvekit job types
// for real: Start gives a Service with a worker on a Redis private to the
// test (the embedded one by default), Run submits one instance of a job
// definition and returns its terminal record, solution and logs, and
// Wait and WaitState wait for an execution with a bounded timeout.
//
// Everything it starts is stopped when the test ends. Timeouts are waits
// for events, never budgets: a slow machine only makes a test slower.
//
//	func TestSum(t *testing.T) {
//		res := solvekittest.Run(t, sumJob, `{"values":[1,2,3]}`)
//		require.Equal(t, job.StateSucceeded, res.Execution.State)
//		require.JSONEq(t, `{"sum":6}`, string(res.Solution))
//	}
package solvekittest

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// DefaultTimeout bounds each wait of Run, Wait and WaitState when the test
// gives none: long enough for a loaded CI machine.
const DefaultTimeout = 60 * time.Second

// Options configure Start.
type Options struct {
	// Config configures the Service. With neither Redis, RedisURL nor
	// RedisOptions set, the Service runs on its embedded in-memory Redis,
	// private to the test. On a real Redis, give each test its own
	// logical database (redis://host:6379/7): asynq's queue keys carry no
	// solvekit Prefix, so two tests sharing a database share queues.
	// Logger defaults to discarding (set one to see the service's logs);
	// Concurrency defaults to 4. Middleware applies as in production, so
	// a test can check a metrics or tracing middleware too.
	Config solvekit.Config
	// NoWorker leaves Work unstarted (to test submits, validation or a
	// worker started by the test itself). Default false: a worker runs.
	NoWorker bool
}

// Start returns a Service with defs registered and, unless o.NoWorker, a
// worker running. The worker and the Service stop when t ends; a failure
// to start fails t.
func Start(t testing.TB, o Options, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	cfg := o.Config
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := solvekit.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("solvekittest: start service: %v", err)
	}
	if err := svc.Register(defs...); err != nil {
		cancel()
		_ = svc.Close()
		t.Fatalf("solvekittest: register: %v", err)
	}
	done := make(chan error, 1)
	if o.NoWorker {
		done <- nil
	} else {
		go func() { done <- svc.Work(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("solvekittest: worker: %v", err)
			}
		case <-time.After(DefaultTimeout):
			t.Errorf("solvekittest: worker did not stop within %s", DefaultTimeout)
		}
		if err := svc.Close(); err != nil {
			t.Errorf("solvekittest: close service: %v", err)
		}
	})
	return svc
}

// Result is what Run returns: the execution's terminal record, its stored
// solution (nil when it has none) and its log records.
type Result struct {
	Execution *job.Execution
	Solution  json.RawMessage
	Logs      []job.LogRecord
}

// Run registers def on a new Service (embedded Redis, a worker running),
// submits instance (a JSON string, []byte, json.RawMessage or any value
// to encode) with the optional config, waits for the execution to end and
// returns it. A submit refused by validation fails t; use Start and
// Service.Submit to test refusals.
func Run(t testing.TB, def *job.Definition, instance any, config ...any) *Result {
	t.Helper()
	svc := Start(t, Options{}, def)
	req := solvekit.SubmitRequest{JobType: def.Name, Instance: raw(t, instance)}
	if len(config) > 0 {
		req.Config = raw(t, config[0])
	}
	ctx := context.Background()
	e, err := svc.Submit(ctx, req)
	if err != nil {
		t.Fatalf("solvekittest: submit %s: %v", def.Name, err)
	}
	e = Wait(t, svc, e.ID, DefaultTimeout)
	res := &Result{Execution: e}
	if e.HasSolution {
		if res.Solution, err = svc.Solution(ctx, e.ID); err != nil {
			t.Fatalf("solvekittest: solution of %s: %v", e.ID, err)
		}
	}
	if res.Logs, err = svc.Logs(ctx, e.ID, "", 10000); err != nil {
		t.Fatalf("solvekittest: logs of %s: %v", e.ID, err)
	}
	return res
}

// Wait waits until the execution reaches a terminal state and returns its
// record; it fails t when within (DefaultTimeout when 0) passes first.
func Wait(t testing.TB, svc *solvekit.Service, id string, within time.Duration) *job.Execution {
	t.Helper()
	if within <= 0 {
		within = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	e, err := svc.Wait(ctx, id)
	if err != nil {
		t.Fatalf("solvekittest: execution %s did not finish within %s: %v (last seen: %+v)", id, within, err, e)
	}
	return e
}

// WaitState polls until the execution is in state and returns its record;
// it fails t when the execution ends in another state, or when within
// (DefaultTimeout when 0) passes first.
func WaitState(t testing.TB, svc *solvekit.Service, id string, state job.State, within time.Duration) *job.Execution {
	t.Helper()
	if within <= 0 {
		within = DefaultTimeout
	}
	deadline := time.Now().Add(within)
	for {
		e, err := svc.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("solvekittest: get %s: %v", id, err)
		}
		if e.State == state {
			return e
		}
		if e.State.Terminal() {
			t.Fatalf("solvekittest: execution %s ended %s, not %s", id, e.State, state)
		}
		if time.Now().After(deadline) {
			t.Fatalf("solvekittest: execution %s not %s within %s (it is %s)", id, state, within, e.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func raw(t testing.TB, v any) json.RawMessage {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		return v
	case []byte:
		return v
	case string:
		return json.RawMessage(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("solvekittest: encode %T: %v", v, err)
	}
	return b
}
