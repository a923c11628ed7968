package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/job"
)

var metaKey = regexp.MustCompile(`^\{solvekit\}:x:[^:]+$`)

// heartbeatOfAttempt matches the heartbeat script's sends for attempt n of
// a single execution.
func heartbeatOfAttempt(n int) func([]string, []any) bool {
	return func(keys []string, argv []any) bool {
		return len(keys) == 1 && metaKey.MatchString(keys[0]) && len(argv) == 4 && fmt.Sprint(argv[3]) == fmt.Sprint(n)
	}
}

// zombieSetup starts a Service (logging to logger; nil discards) with a
// "zombie" job whose attempt 1 loses touch with Redis: a hook drops its
// heartbeats, and it ignores its context until the test ends. A fast
// sweeper declares it lost and requeues it; attempt 2 succeeds. A send on
// release lets attempt 1's job return.
func zombieSetup(t *testing.T, logger *slog.Logger) (b *bundle, release chan<- struct{}) {
	t.Helper()
	zombie := make(chan struct{})
	def := job.Async("zombie", func(ctx context.Context, jc *job.Context) (any, error) {
		if jc.Attempt == 1 {
			<-zombie // ignores ctx: its worker lost touch with Redis
		}
		return map[string]int{"attempt": jc.Attempt}, nil
	})
	hook := &faultHook{faults: []*fault{{match: heartbeatOfAttempt(1), always: true}}}
	b = setup(t, setupOpts{defs: []*job.Definition{def}, hook: hook, cfg: solvekit.Config{
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second, SweepInterval: 100 * time.Millisecond,
		Logger: logger}})
	t.Cleanup(func() { close(zombie) }) // before the worker stops
	return b, zombie
}

// TestLostAttemptTaskRetired: an attempt whose heartbeats stop reaching
// Redis is declared lost and requeued by the sweeper, which also retires
// its asynq task: asynq's Inspector shows no such task and nothing active
// while the old attempt's job still runs, and when that job finally
// returns, its late finish is ignored without asynq failing, retrying or
// warning about the task.
func TestLostAttemptTaskRetired(t *testing.T) {
	var logs logtest.Buffer
	b, release := zombieSetup(t, logs.Logger(slog.LevelInfo))
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "zombie", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, []string{"queued", "running", "lost", "queued", "running", "succeeded"}, statuses(t, b, e.ID))

	in := solvekit.InspectorOf(b.svc)
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo("default")
		require.NoError(t, err)
		return info.Pending == 0
	}, 10*time.Second, 10*time.Millisecond)
	_, err = in.GetTaskInfo("default", e.ID+":1")
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "the lost attempt's task is still there: %v", err)
	info, err := in.GetQueueInfo("default")
	require.NoError(t, err)
	require.Zero(t, info.Active, "a phantom active task")
	require.Zero(t, b.rdb.ZCard(ctx, "asynq:{default}:lease").Val(), "a lease left for the recoverer")
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo("default")
		require.NoError(t, err)
		return info.Processed == 2
	}, 10*time.Second, 10*time.Millisecond, "both attempts' tasks are processed")

	// The old attempt's job returns at last: its finish is ignored.
	release <- struct{}{}
	// Give a wrongly sent Done time to fail and be logged.
	time.Sleep(time.Second)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, got.State)
	require.Equal(t, 2, got.Attempt)
	requireQueueClean(t, b)
	require.NotContains(t, logs.String(), "Could not remove task")
}
