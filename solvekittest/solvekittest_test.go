package solvekittest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

// TestExample runs the package example's test.
func TestExample(t *testing.T) { testSum(t) }

// TestRun: Run returns the terminal record, solution and logs of a typed
// async job, applies a config, and runs sync jobs and failures too.
func TestRun(t *testing.T) {
	scaled := job.AsyncOf("scaled", func(ctx context.Context, jc *job.Context, in sumInput) (float64, error) {
		var cfg struct {
			Scale float64 `json:"scale"`
		}
		if err := jc.DecodeConfig(&cfg); err != nil {
			return 0, err
		}
		jc.Logger.Info("scaling", "by", cfg.Scale)
		return cfg.Scale * in.Values[0], nil
	}, job.WithConfigSchema([]byte(`{"type":"object","properties":{"scale":{"type":"number","default":2}}}`)))

	res := solvekittest.Run(t, scaled, map[string]any{"values": []float64{3}})
	require.Equal(t, job.StateSucceeded, res.Execution.State)
	require.JSONEq(t, `6`, string(res.Solution))
	res = solvekittest.Run(t, scaled, []byte(`{"values":[3]}`), `{"scale":10}`)
	require.JSONEq(t, `30`, string(res.Solution))
	require.Len(t, res.Logs, 1)
	require.Equal(t, "scaling", res.Logs[0].Message)
	require.EqualValues(t, 10, res.Logs[0].Attrs["by"])

	echo := job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) { return json.RawMessage(jc.Instance), nil })
	res = solvekittest.Run(t, echo, json.RawMessage(`{"a":1}`))
	require.Equal(t, job.KindSync, res.Execution.Kind)
	require.JSONEq(t, `{"a":1}`, string(res.Solution))

	failing := job.Async("failing", func(ctx context.Context, jc *job.Context) (any, error) {
		return nil, job.Fail("infeasible", map[string]int{"row": 42})
	})
	res = solvekittest.Run(t, failing, `{}`)
	require.Equal(t, job.StateFailed, res.Execution.State)
	require.Equal(t, "failure", res.Execution.Error.Kind)
	require.Equal(t, "infeasible", res.Execution.Error.Message)
	require.Nil(t, res.Solution)
}

// TestStartNoWorker: with NoWorker, submits stay queued until the test
// starts a worker itself; WaitState and Wait follow the execution.
func TestStartNoWorker(t *testing.T) {
	release := make(chan struct{})
	slow := job.Async("slow", func(ctx context.Context, jc *job.Context) (any, error) {
		<-release
		return "done", nil
	})
	svc := solvekittest.Start(t, solvekittest.Options{NoWorker: true}, slow)
	require.True(t, svc.Embedded())
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "slow", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, solvekittest.WaitState(t, svc, e.ID, job.StateQueued, 0).State)
	ws, err := svc.Workers(ctx)
	require.NoError(t, err)
	require.Empty(t, ws, "no worker runs")

	workCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Work(workCtx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	running := solvekittest.WaitState(t, svc, e.ID, job.StateRunning, 0)
	require.Equal(t, svc.WorkerID(), running.Worker)
	close(release)
	require.Equal(t, job.StateSucceeded, solvekittest.Wait(t, svc, e.ID, 0).State)
}

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// TestWaitStateFailsOnAnotherEnd: WaitState fails the test at once when
// the execution ends in another state than the one awaited.
func TestWaitStateFailsOnAnotherEnd(t *testing.T) {
	echo := job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil })
	svc := solvekittest.Start(t, solvekittest.Options{NoWorker: true}, echo)
	e, err := svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); solvekittest.WaitState(ft, svc, e.ID, job.StateRunning, 0) }()
	<-done
	require.True(t, strings.Contains(ft.msg, "ended succeeded, not running"), ft.msg)
}

// TestStartOnRealRedis: Start runs on a Redis given by URL (here the
// package's private redis-server, a fresh database).
func TestStartOnRealRedis(t *testing.T) {
	srv := redistest.Current(t)
	svc := solvekittest.Start(t, solvekittest.Options{Config: solvekit.Config{RedisURL: srv.URL(srv.DB(t))}}, sumJob)
	require.False(t, svc.Embedded())
	e, err := svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[4,5]}`)})
	require.NoError(t, err)
	e = solvekittest.Wait(t, svc, e.ID, 0)
	require.Equal(t, job.StateSucceeded, e.State)
	sol, err := svc.Solution(context.Background(), e.ID)
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":9}`, string(sol))
	t.Logf("redis: %s %s", srv.Kind, srv.Version)
}
