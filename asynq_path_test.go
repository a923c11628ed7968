package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// asynqCalls counts, on the client it is hooked into, the calls of asynq's
// own scripts that the fused path replaces (asynq v0.26 key shapes): an
// enqueue or schedule that wrote a task (two keys, the first a task hash;
// the script answers 1), and a done (five keys, the first an active list).
type asynqCalls struct{ enqueued, done atomic.Int64 }

func (h *asynqCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *asynqCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *asynqCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil || (cmd.Name() != "evalsha" && cmd.Name() != "eval") {
			return err
		}
		args := cmd.Args()
		if len(args) < 4 {
			return err
		}
		n, _ := args[2].(int)
		first, _ := args[3].(string)
		switch {
		case n == 2 && strings.HasPrefix(first, "asynq:{") && strings.Contains(first, "}:t:"):
			if c, ok := cmd.(*redis.Cmd); ok && c.Val() == int64(1) {
				h.enqueued.Add(1)
			}
		case n == 5 && strings.HasPrefix(first, "asynq:{") && strings.HasSuffix(first, "}:active"):
			h.done.Add(1)
		}
		return err
	}
}

// TestTaskPathReachesRedis: with Config.AsynqPublicAPI a job's task is
// written by asynq's enqueue and ended by asynq's done, both reaching
// Redis; by default (asynq v0.26, one Redis) neither runs: the record's
// scripts write and end the task, and the Server answers asynq's done.
func TestTaskPathReachesRedis(t *testing.T) {
	for _, public := range []bool{false, true} {
		calls := &asynqCalls{}
		b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, hook: calls,
			cfg: solvekit.Config{AsynqPublicAPI: public}})
		ctx := context.Background()
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
		require.NoError(t, err)
		require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 10*time.Second).State)
		in := solvekit.InspectorOf(b.svc)
		require.Eventually(t, func() bool {
			info, err := in.GetQueueInfo("default")
			require.NoError(t, err)
			return info.Processed == 1 && info.Active == 0
		}, patience.Scale(10*time.Second), 10*time.Millisecond, "asynq did not count the task processed")
		want := int64(0)
		if public {
			want = 1
		}
		require.Equal(t, want, calls.enqueued.Load(), "asynq enqueues, public %v", public)
		// The Inspector may count the done before its reply reaches the hook.
		require.Eventually(t, func() bool { return calls.done.Load() == want }, patience.Scale(5*time.Second), 5*time.Millisecond,
			"asynq dones, public %v", public)
	}
}

// requireAsynqClean waits until asynq's Inspector shows nothing active,
// pending, scheduled or waiting for a retry on the default queue, then
// checks that it counted processed tasks in all and archived none. It
// returns the queue's info.
func requireAsynqClean(t *testing.T, in *asynq.Inspector, processed int, within time.Duration) *asynq.QueueInfo {
	t.Helper()
	var info *asynq.QueueInfo
	require.Eventually(t, func() bool {
		var err error
		info, err = in.GetQueueInfo("default")
		require.NoError(t, err)
		return info.Active == 0 && info.Pending == 0 && info.Scheduled == 0 && info.Retry == 0
	}, patience.Scale(within), 20*time.Millisecond, "asynq still holds tasks")
	require.Equal(t, processed, info.Processed, "%+v", info)
	require.Zero(t, info.Archived)
	require.Zero(t, info.Completed)
	return info
}

// TestPublicPathLifecycle runs the lifecycle on asynq's public client API
// (Config.AsynqPublicAPI): a success, a cancel of a running job (stopped
// with its incumbent), a retry, a relaunch, and an execution whose task a
// crash lost (the sweeper asks asynq's Inspector, and enqueues it). asynq
// must count every task processed, none failed, none left.
func TestPublicPathLifecycle(t *testing.T) {
	var runs atomic.Int64
	flaky := job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
		if runs.Add(1) == 1 {
			return nil, errors.New("first attempt fails")
		}
		return map[string]float64{"sum": 7}, nil
	}, job.WithMaxRetries(1), job.WithSolutionSchema(sumSolution))
	calls := &asynqCalls{}
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob(), improver("improve"), flaky}, hook: calls,
		cfg: solvekit.Config{AsynqPublicAPI: true, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond },
			QueuedGrace: 200 * time.Millisecond, SweepInterval: 100 * time.Millisecond}})
	ctx := context.Background()
	in := solvekit.InspectorOf(b.svc)

	// Submit → succeeded.
	sum, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	e := waitFor(t, b, sum.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)

	// Cancel of a running job: stopped with its incumbent.
	imp, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, imp.ID, job.StateRunning)
	require.Eventually(t, func() bool {
		inc, err := b.svc.Incumbent(ctx, imp.ID)
		return err == nil && len(inc) > 0
	}, patience.Scale(5*time.Second), 5*time.Millisecond)
	require.NoError(t, b.svc.Cancel(ctx, imp.ID))
	e = waitFor(t, b, imp.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	require.True(t, e.HasSolution)
	require.NotNil(t, e.Objective)

	// A retry: attempt 1 fails, attempt 2 (a new task) succeeds.
	fl, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "flaky", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, fl.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)

	// A relaunch of the finished sum.
	_, err = b.svc.Relaunch(ctx, sum.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"scale":10}`)})
	require.NoError(t, err)
	e = waitFor(t, b, sum.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	sol, err := b.svc.Solution(ctx, sum.ID)
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":30}`, string(sol))

	// A record whose task a crash lost: the sweeper finds no task through
	// asynq's Inspector and enqueues one.
	orphan := &job.Execution{ID: "orphan-public", JobType: "sum", Kind: job.KindAsync, Queue: "default",
		Config: json.RawMessage(`{"scale":1}`), CreatedAt: time.Now().Add(-time.Second)}
	require.NoError(t, solvekit.StoreOf(b.svc).Create(ctx, orphan, json.RawMessage(`{"values":[4]}`)))
	e = waitFor(t, b, orphan.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)

	// Six tasks (sum, improve, flaky ×2, the relaunch, the orphan), each
	// enqueued and ended by asynq itself.
	info := requireAsynqClean(t, in, 6, 10*time.Second)
	require.Zero(t, info.Failed)
	// Redis may have run an enqueue or the last done (the Inspector counts
	// it, the task may even have run) before its reply has reached the
	// hook that counts it: the sweeper's and the retry's enqueues are made
	// by goroutines a loaded machine may leave waiting.
	require.Eventually(t, func() bool { return calls.enqueued.Load() == 6 && calls.done.Load() == 6 },
		patience.Scale(5*time.Second), 5*time.Millisecond,
		"asynq's enqueue and done did not each run six times")
	require.EqualValues(t, 6, calls.enqueued.Load())
	require.EqualValues(t, 6, calls.done.Load())
}

// TestPublicPathKill9 kills a worker process (on asynq's public API) mid-
// job with SIGKILL; another one re-runs the execution to completion. The
// dead attempt's task is not ended by solvekit (that would write asynq's
// layout): asynq's own recovery takes it once its lease has expired (up to
// about two minutes), counting it failed once, and delivers it again to a
// handler that finds nothing to run. Then asynq holds nothing, the
// execution is untouched, and nothing is archived.
func TestPublicPathKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery: up to ~2.5 min")
	}
	t.Setenv(workerPublicEnv, "1")
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{slowJob("submitter")},
		cfg: solvekit.Config{AsynqPublicAPI: true}})
	ctx := context.Background()
	e, done, in := killMidJob(t, b)
	require.JSONEq(t, `{"count":30,"worker":"worker-b"}`, string(b.solution(t, e.ID)))

	// Three processed: attempt 2's task, and attempt 1's task twice (its
	// lease recovery, counted failed, then its second delivery).
	info := requireAsynqClean(t, in, 3, 4*time.Minute)
	require.Equal(t, 1, info.Failed, "asynq's recovery, not solvekit, ended the dead attempt's task")
	_, err := in.GetTaskInfo("default", e.ID+":1")
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "%v", err)
	require.Zero(t, b.rdb.ZCard(ctx, "asynq:{default}:lease").Val())
	// The second delivery ran nothing: the record is as worker-b left it.
	after, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, done.State, after.State)
	require.Equal(t, done.Attempt, after.Attempt)
	require.Equal(t, done.FinishedAt, after.FinishedAt)
}

// TestNewLogsTaskPath: New logs once which path asynq's tasks take: fused
// with the tested asynq release this test binary links, public when the
// configuration forces it, with the reason.
func TestNewLogsTaskPath(t *testing.T) {
	for _, tt := range []struct {
		public bool
		want   string
	}{
		{false, "path=fused asynq=v0.26.0"},
		{true, `path=public asynq=v0.26.0 reason="Config.AsynqPublicAPI is set"`},
	} {
		var logs logtest.Buffer
		setup(t, setupOpts{noWork: true, cfg: solvekit.Config{AsynqPublicAPI: tt.public, Logger: logs.Logger(slog.LevelInfo)}})
		out := logs.String()
		require.Equal(t, 1, strings.Count(out, "writing asynq tasks"), out)
		require.Contains(t, out, tt.want)
	}
}
