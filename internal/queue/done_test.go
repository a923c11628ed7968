package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// drained waits until queue q has processed n tasks and holds none active
// or pending, and returns its info.
func drained(t *testing.T, in *asynq.Inspector, q string, n int, within time.Duration) *asynq.QueueInfo {
	t.Helper()
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo(q)
		return err == nil && info.Processed == n && info.Active == 0 && info.Pending == 0
	}, within, 5*time.Millisecond)
	info, err := in.GetQueueInfo(q)
	require.NoError(t, err)
	return info
}

// TestHandlerCompletesItsTask runs tasks whose handlers finish their
// executions with the task (store.Outcome.Task) and tasks whose handlers
// leave the task to asynq. Either way asynq ends with no active, pending
// or leased task, every task counted as processed, and nothing to
// complain about: the Done it calls for a completed task is answered
// without Redis instead of failing with NOT FOUND.
func TestHandlerCompletesItsTask(t *testing.T) {
	rdb := redistest.Client(t)
	st := store.New(rdb, store.Options{})
	ctx := context.Background()
	const q = "done"
	const n = 6
	for i := 0; i < n; i++ {
		a := queue.Attempt{ID: fmt.Sprintf("done-%d", i), Attempt: 1}
		tk := queue.NewTask(a, queue.EnqueueOptions{Queue: q, Timeout: time.Minute}, time.Now())
		require.NoError(t, st.CreateNew(ctx, &job.Execution{ID: a.ID, JobType: "t", Queue: q, CreatedAt: time.Now()},
			json.RawMessage(`{}`), tk, ""))
	}
	var logs logtest.Buffer
	var mu sync.Mutex
	completed := map[string]bool{}
	srv := queue.NewServer(rdb, queue.ServerConfig{Concurrency: 2, Queues: map[string]int{q: 1},
		TaskCheckInterval: 5 * time.Millisecond, Logger: logs.Logger(slog.LevelInfo), CompleteInScripts: true},
		func(ctx context.Context, a queue.Attempt) error {
			now := time.Now()
			if _, err := st.Start(ctx, a.ID, a.Attempt, "w", now); err != nil {
				return err
			}
			out := store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}
			c := queue.CompletionFrom(ctx)
			if c == nil {
				return fmt.Errorf("no Completion in the handler's context")
			}
			withTask := a.ID[len(a.ID)-1]%2 == 0
			if withTask {
				out.Task = c.Task(now)
			}
			ok, err := st.Finish(ctx, a.ID, a.Attempt, out, now)
			if err != nil || !ok {
				return fmt.Errorf("finish: %v %v", ok, err)
			}
			if withTask && out.Task.Completed {
				c.Completed()
			}
			mu.Lock()
			completed[a.ID] = withTask && out.Task.Completed
			mu.Unlock()
			return nil
		})
	require.NoError(t, srv.Start())
	defer srv.Shutdown()

	in := queue.NewClient(rdb, true).Inspector()
	info := drained(t, in, q, n, 5*time.Second)
	require.Equal(t, n, info.ProcessedTotal)
	require.Zero(t, info.Failed)
	require.Zero(t, rdb.ZCard(ctx, "asynq:{"+q+"}:lease").Val(), "no lease left")
	keys, err := rdb.Keys(ctx, "asynq:{"+q+"}:t:*").Result()
	require.NoError(t, err)
	require.Empty(t, keys, "no task hash left")
	mu.Lock()
	require.Len(t, completed, n)
	for id, done := range completed {
		require.Equal(t, id[len(id)-1]%2 == 0, done, "%s completed by its finish", id)
	}
	mu.Unlock()
	for i := 0; i < n; i++ {
		e, err := st.Get(ctx, fmt.Sprintf("done-%d", i))
		require.NoError(t, err)
		require.Equal(t, job.StateSucceeded, e.State)
	}
	// Give a wrongly sent Done time to fail and be logged.
	time.Sleep(50 * time.Millisecond)
	require.NotContains(t, logs.String(), "level=WARN")
	require.NotContains(t, logs.String(), "level=ERROR")
}

// TestNoCompletionOnThePublicPath: a Server without CompleteInScripts (the
// public path) gives its handlers no Completion, and asynq completes every
// task itself.
func TestNoCompletionOnThePublicPath(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	const q = "public"
	const n = 4
	c := queue.NewClient(rdb, false)
	for i := 0; i < n; i++ {
		_, err := c.Enqueue(ctx, queue.Attempt{ID: fmt.Sprintf("pub-%d", i), Attempt: 1}, queue.EnqueueOptions{Queue: q})
		require.NoError(t, err)
	}
	var mu sync.Mutex
	withCompletion := 0
	srv := queue.NewServer(rdb, queue.ServerConfig{Concurrency: 2, Queues: map[string]int{q: 1},
		TaskCheckInterval: 5 * time.Millisecond},
		func(ctx context.Context, a queue.Attempt) error {
			mu.Lock()
			defer mu.Unlock()
			if queue.CompletionFrom(ctx) != nil {
				withCompletion++
			}
			return nil
		})
	require.NoError(t, srv.Start())
	defer srv.Shutdown()
	in := c.Inspector()
	info := drained(t, in, q, n, 10*time.Second)
	require.Zero(t, info.Failed)
	mu.Lock()
	require.Zero(t, withCompletion)
	mu.Unlock()
}
