package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

// TestConcurrentSubmits submits 2,000 executions at once, with a mix of
// outcomes, and checks that each reaches a terminal state exactly once and
// that the counts by state add up.
func TestConcurrentSubmits(t *testing.T) {
	// 2,000 on a real redis-server. The embedded miniredis fallback slows
	// down sharply with thousands of queued tasks, so it gets fewer.
	n := 2000
	if redistest.Current(t).Kind == "miniredis" {
		n = 300
	}
	var mu sync.Mutex
	runs := map[string]int{}
	def := job.Async("mixed", func(ctx context.Context, jc *job.Context) (any, error) {
		mu.Lock()
		runs[jc.ExecutionID]++
		mu.Unlock()
		var in struct{ I int }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		if in.I%10 == 0 {
			return nil, job.Fail("tenth", nil)
		}
		return map[string]int{"i": in.I}, nil
	})
	b := setup(t, setupOpts{defs: []*job.Definition{def}, cfg: solvekit.Config{Concurrency: 16}})
	ctx := context.Background()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 200)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "mixed", Instance: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
			if err != nil {
				errs <- err
				return
			}
			ids[i] = e.ID
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
	require.Eventually(t, func() bool {
		c, err := b.svc.Counts(ctx)
		require.NoError(t, err)
		return c[job.StateSucceeded]+c[job.StateFailed] == int64(n)
	}, 120*time.Second, 100*time.Millisecond)
	c, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, n*9/10, c[job.StateSucceeded])
	require.EqualValues(t, n/10, c[job.StateFailed])
	var total int64
	for _, v := range c {
		total += v
	}
	require.EqualValues(t, n, total, "counts by state add up")
	list, count, err := b.svc.List(ctx, solvekit.ListOptions{Limit: 1000})
	require.NoError(t, err)
	require.EqualValues(t, n, count)
	require.Len(t, list, min(n, 1000))
	// asynq agrees: every task was processed once, none is left over.
	require.Eventually(t, func() bool {
		info, err := b.svc.Queue().Inspector().GetQueueInfo(def.QueueName())
		require.NoError(t, err)
		return info.Active == 0 && info.Pending == 0 && info.ProcessedTotal == n
	}, 10*time.Second, 20*time.Millisecond)
	info, err := b.svc.Queue().Inspector().GetQueueInfo(def.QueueName())
	require.NoError(t, err)
	require.Zero(t, info.Failed+info.Retry+info.Archived)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, runs, n)
	for id, k := range runs {
		require.Equal(t, 1, k, "execution %s ran %d times", id, k)
	}
}
