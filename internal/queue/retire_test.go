package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/redistest"
)

// TestRetireDeadTask: Retire ends an active task as asynq's done would
// (asynq's Inspector then finds no such task, nothing active, no lease,
// the task counted processed and not failed), and leaves a task that is
// not active alone.
func TestRetireDeadTask(t *testing.T) {
	rdb := redistest.Client(t)
	c := queue.NewClient(rdb, true)
	ctx := context.Background()
	const q = "retire"
	dead := queue.Attempt{ID: "dead", Attempt: 1}
	waiting := queue.Attempt{ID: "waiting", Attempt: 1}
	for _, a := range []queue.Attempt{dead, waiting} {
		_, err := c.Enqueue(ctx, a, queue.EnqueueOptions{Queue: q})
		require.NoError(t, err)
	}
	// Make dead active with a lease, as asynq's dequeue does for a worker
	// that then dies.
	p := "asynq:{" + q + "}:"
	require.NoError(t, rdb.LRem(ctx, p+"pending", 0, dead.TaskID()).Err())
	require.NoError(t, rdb.LPush(ctx, p+"active", dead.TaskID()).Err())
	require.NoError(t, rdb.ZAdd(ctx, p+"lease", redis.Z{Score: float64(time.Now().Add(30 * time.Second).Unix()), Member: dead.TaskID()}).Err())
	require.NoError(t, rdb.HSet(ctx, p+"t:"+dead.TaskID(), "state", "active").Err())
	in := c.Inspector()
	info, err := in.GetQueueInfo(q)
	require.NoError(t, err)
	require.Equal(t, 1, info.Active)

	// A client that may not use asynq's layout (the public path) leaves
	// the task to asynq's own recovery.
	ok, err := queue.NewClient(rdb, false).Retire(ctx, q, dead)
	require.NoError(t, err)
	require.False(t, ok)
	ti, err := in.GetTaskInfo(q, dead.TaskID())
	require.NoError(t, err)
	require.Equal(t, "active", ti.State.String())

	ok, err = c.Retire(ctx, q, dead)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = in.GetTaskInfo(q, dead.TaskID())
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "%v", err)
	info, err = in.GetQueueInfo(q)
	require.NoError(t, err)
	require.Zero(t, info.Active)
	require.Equal(t, 1, info.Pending, "the other task is untouched")
	require.Equal(t, 1, info.Processed)
	require.Equal(t, 1, info.ProcessedTotal)
	require.Zero(t, info.Failed)
	require.Zero(t, rdb.ZCard(ctx, p+"lease").Val())

	// Again, or for a task that is not active: nothing happens.
	ok, err = c.Retire(ctx, q, dead)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = c.Retire(ctx, q, waiting)
	require.NoError(t, err)
	require.False(t, ok)
	ti, err = in.GetTaskInfo(q, waiting.TaskID())
	require.NoError(t, err)
	require.Equal(t, "pending", ti.State.String())
	info, err = in.GetQueueInfo(q)
	require.NoError(t, err)
	require.Equal(t, 1, info.Processed)
}
