package queue_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/transport/queue"
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
	c := queue.NewClient(rdb)
	ctx := context.Background()
	a := queue.Attempt{ID: "x", Attempt: 1}
	ok, err := c.Enqueue(ctx, a, queue.EnqueueOptions{})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.Enqueue(ctx, a, queue.EnqueueOptions{})
	require.NoError(t, err)
	require.False(t, ok, "the same attempt is never queued twice")

	var mu sync.Mutex
	var got []queue.Attempt
	srv := queue.NewServer(rdb, queue.ServerConfig{Concurrency: 2, Queues: map[string]int{"default": 1},
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
		return len(got) == 1
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, a, got[0])

	// Delete removes a pending task; deleting a missing one is fine.
	b := queue.Attempt{ID: "y", Attempt: 1}
	_, err = c.Enqueue(ctx, b, queue.EnqueueOptions{Queue: "other", Delay: time.Hour})
	require.NoError(t, err)
	require.NoError(t, c.Delete("other", b))
	require.NoError(t, c.Delete("other", b))
	require.NoError(t, c.Delete("nope", b))
}
