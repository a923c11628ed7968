package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func TestParseAttempt(t *testing.T) {
	tests := []struct {
		in   string
		want queue.Attempt
		ok   bool
	}{
		{"abc:1", queue.Attempt{ID: "abc", Attempt: 1}, true},
		{"a:b:12", queue.Attempt{ID: "a:b", Attempt: 12}, true},
		{"abc", queue.Attempt{}, false},
		{":1", queue.Attempt{}, false},
		{"abc:0", queue.Attempt{}, false},
		{"abc:x", queue.Attempt{}, false},
	}
	for _, tt := range tests {
		got, err := queue.ParseAttempt([]byte(tt.in))
		if !tt.ok {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
		require.Equal(t, tt.in, got.TaskID())
	}
}

func TestEnqueueOncePerAttemptAndRun(t *testing.T) {
	rdb := redistest.Client(t)
	c := queue.NewClient(rdb, true)
	ctx := context.Background()
	a := queue.Attempt{ID: "x", Attempt: 1}
	ok, err := c.Enqueue(ctx, a, queue.EnqueueOptions{})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.Enqueue(ctx, a, queue.EnqueueOptions{})
	require.NoError(t, err)
	require.False(t, ok, "the same attempt is never queued twice")

	got := runAll(t, rdb, "default", 1)
	require.Equal(t, a, got[0])

	// Delete removes a pending task; deleting a missing one is fine.
	b := queue.Attempt{ID: "y", Attempt: 1}
	_, err = c.Enqueue(ctx, b, queue.EnqueueOptions{Queue: "other", Delay: time.Hour})
	require.NoError(t, err)
	require.NoError(t, c.Delete("other", b))
	require.NoError(t, c.Delete("other", b))
	require.NoError(t, c.Delete("nope", b))
}

// TestNewTaskIsAsynqsLayout: a task written from NewTask (as store.CreateWithTask
// does, in one script with the record) is byte for byte the message asynq's
// own Client writes, and asynq's Inspector and Server treat it as their own.
func TestNewTaskIsAsynqsLayout(t *testing.T) {
	rdb := redistest.Client(t)
	c := queue.NewClient(rdb, true)
	ctx := context.Background()
	for _, timeout := range []time.Duration{0, 90 * time.Second} {
		o := queue.EnqueueOptions{Queue: "fused", Timeout: timeout}
		viaAsynq := queue.Attempt{ID: "a" + timeout.String(), Attempt: 1}
		_, err := c.Enqueue(ctx, viaAsynq, o)
		require.NoError(t, err)
		asynqMsg, err := rdb.HGet(ctx, "asynq:{fused}:t:"+viaAsynq.TaskID(), "msg").Bytes()
		require.NoError(t, err)

		// the same attempt id, so the two messages must be identical
		tk := queue.NewTask(viaAsynq, o, time.Now())
		require.Equal(t, asynqMsg, tk.Msg, "timeout %s", timeout)
		require.Equal(t, "asynq:{fused}:t:"+viaAsynq.TaskID(), tk.Key)
		require.Equal(t, "asynq:{fused}:pending", tk.PendingKey)
		require.Equal(t, "asynq:queues", tk.QueuesKey)
	}

	// Write one with its record, as Submit does, and let asynq inspect and run it.
	a := queue.Attempt{ID: "fused-exec", Attempt: 1}
	tk := queue.NewTask(a, queue.EnqueueOptions{Queue: "fused", Timeout: time.Minute}, time.Now())
	err := store.New(rdb, store.Options{}).CreateWithTask(ctx,
		&job.Execution{ID: a.ID, JobType: "t", Queue: "fused", CreatedAt: time.Now()}, json.RawMessage(`{}`), tk)
	require.NoError(t, err)
	info, err := c.Inspector().GetTaskInfo("fused", tk.ID)
	require.NoError(t, err)
	require.Equal(t, queue.TaskType, info.Type)
	require.Empty(t, info.Payload, "the task id names the attempt")
	require.Equal(t, "pending", info.State.String())
	require.Equal(t, 2*time.Minute, info.Timeout)

	got := runAll(t, rdb, "fused", 3)
	require.Contains(t, got, a)
}

// runAll runs a worker server on queue q until it has handled n attempts,
// and returns them.
func runAll(t *testing.T, rdb redis.UniversalClient, q string, n int) []queue.Attempt {
	t.Helper()
	var mu sync.Mutex
	var got []queue.Attempt
	srv := queue.NewServer(rdb, queue.ServerConfig{Concurrency: 2, Queues: map[string]int{q: 1},
		TaskCheckInterval: 5 * time.Millisecond}, func(ctx context.Context, a queue.Attempt) error {
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
		return nil
	})
	require.NoError(t, srv.Start())
	defer srv.Shutdown()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	}, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	return append([]queue.Attempt(nil), got...)
}

// TestTaskMessageFitsAListpack: the task of a default submit (a 36-character
// UUID id, queue "default") has a message of at most 64 bytes, so
// redis-server keeps asynq's task hash as a compact listpack (about 130
// bytes) instead of a hash table (about 470): the largest single saving in
// memory per queued execution.
func TestTaskMessageFitsAListpack(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	a := queue.Attempt{ID: "01a23504-2e09-7072-ad65-5d38a5c6baad", Attempt: 1}
	tk := queue.NewTask(a, queue.EnqueueOptions{}, time.Now())
	require.LessOrEqual(t, len(tk.Msg), 64)
	err := store.New(rdb, store.Options{}).CreateWithTask(ctx,
		&job.Execution{ID: a.ID, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`), tk)
	require.NoError(t, err)
	if redistest.Current(t).Kind != "redis-server" {
		return // miniredis has no OBJECT ENCODING
	}
	enc, err := rdb.ObjectEncoding(ctx, tk.Key).Result()
	require.NoError(t, err)
	require.Equal(t, "listpack", enc)
	require.Equal(t, a, runAll(t, rdb, "default", 1)[0])
}

// TestLegacyTaskStillRuns: a task written before the task message was
// shortened (type "solvekit:run", the attempt in its payload) still runs
// after an upgrade.
func TestLegacyTaskStillRuns(t *testing.T) {
	rdb := redistest.Client(t)
	a := queue.Attempt{ID: "old", Attempt: 2}
	_, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("solvekit:run", []byte(a.TaskID())),
		asynq.TaskID(a.TaskID()), asynq.Queue("legacy"))
	require.NoError(t, err)
	require.Equal(t, a, runAll(t, rdb, "legacy", 1)[0])
}

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
