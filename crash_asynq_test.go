package solvekit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// TestKill9RetiresDeadTask kills a worker process mid-job with SIGKILL;
// another worker process requeues and re-runs the execution. asynq's
// Inspector must then agree with solvekit: the dead attempt's task is
// gone (not active until its lease expires, to be counted failed and
// delivered again later), nothing is active or leased, and no failure,
// retry or archived task is counted.
func TestKill9RetiresDeadTask(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes ~15 s")
	}
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{slowJob("submitter")}})
	ctx := context.Background()
	e, _, in := killMidJob(t, b)

	_, err := in.GetTaskInfo("default", e.ID+":1")
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "the dead attempt's task is still there: %v", err)
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo("default")
		require.NoError(t, err)
		return info.Active == 0 && info.Pending == 0 && info.Processed == 2
	}, 10*time.Second, 10*time.Millisecond, "asynq still holds a task, or did not count both as processed")
	info, err := in.GetQueueInfo("default")
	require.NoError(t, err)
	require.Zero(t, info.Failed)
	require.Zero(t, info.Retry)
	require.Zero(t, info.Archived)
	require.Zero(t, b.rdb.ZCard(ctx, "asynq:{default}:lease").Val(), "a lease left for asynq's recoverer to fail later")
}

// killMidJob submits a slow job to a worker process, checks that its
// attempt's asynq task is active, kills the worker with SIGKILL mid-job,
// starts another, and waits until that one has finished the execution as
// attempt 2. It returns the execution as submitted and as finished, and
// asynq's inspector.
func killMidJob(t *testing.T, b *bundle) (submitted, done *job.Execution, in *asynq.Inspector) {
	t.Helper()
	a, e := slowOnWorkerA(t, b)
	in = solvekit.InspectorOf(b.svc)
	ti, err := in.GetTaskInfo("default", e.ID+":1")
	require.NoError(t, err)
	require.Equal(t, "active", ti.State.String())
	a.kill9(t) // mid-job; the other worker (and its sweeper) starts after
	startWorker(t, b.url, "worker-b")
	done = waitFor(t, b, e.ID, 60*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, "worker-b", done.Worker)
	return e, done, in
}
