package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

// runCount counts how many times each execution ran, for the checks that
// every execution runs exactly once.
type runCount struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *runCount) ran(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[id]++
}

// distinct is how many executions have run.
func (c *runCount) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs)
}

func (c *runCount) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.runs)
}

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
	var runs runCount
	def := job.Async("mixed", func(ctx context.Context, jc *job.Context) (any, error) {
		runs.ran(jc.ExecutionID)
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
	// Wait while the workers make progress: fail only when no execution
	// finished for a while, however long all of them take.
	finished := func() int64 {
		c, err := b.svc.Counts(ctx)
		require.NoError(t, err)
		return c[job.StateSucceeded] + c[job.StateFailed]
	}
	stall := patience.Scale(10 * time.Second)
	for last, lastAt := finished(), time.Now(); last < int64(n); time.Sleep(100 * time.Millisecond) {
		if now := finished(); now != last {
			last, lastAt = now, time.Now()
		}
		if time.Since(lastAt) > stall {
			t.Fatalf("stalled: no execution finished for %s; %d of %d done", stall, last, n)
		}
	}
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
	for deadline := time.Now().Add(patience.Scale(10 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		info, err := solvekit.InspectorOf(b.svc).GetQueueInfo(def.QueueName())
		require.NoError(t, err)
		if info.Active == 0 && info.Pending == 0 && info.ProcessedTotal == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("asynq's queue: active %d, pending %d, processed %d of %d, failed %d, retry %d, archived %d",
				info.Active, info.Pending, info.ProcessedTotal, n, info.Failed, info.Retry, info.Archived)
		}
	}
	info, err := solvekit.InspectorOf(b.svc).GetQueueInfo(def.QueueName())
	require.NoError(t, err)
	require.Zero(t, info.Failed+info.Retry+info.Archived)
	got := runs.snapshot()
	require.Len(t, got, n)
	for id, k := range got {
		require.Equal(t, 1, k, "execution %s ran %d times", id, k)
	}
}

// TestWorkShutdownWhileTasksArrive stops Work again and again while
// submitters keep a stream of short tasks coming, so that handlers start
// and end around the moment Work begins to drain. Work used to count its
// handlers with a sync.WaitGroup whose Wait ran while handlers still
// called Add, which panics ("WaitGroup is reused before previous Wait has
// returned"). Every cycle must return cleanly, and after the last one
// every submitted execution ends succeeded exactly once.
func TestWorkShutdownWhileTasksArrive(t *testing.T) {
	var runs runCount
	def := job.Async("tick", func(ctx context.Context, jc *job.Context) (any, error) {
		runs.ran(jc.ExecutionID)
		return map[string]int{"ok": 1}, nil
	})
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{def},
		cfg: solvekit.Config{Concurrency: 8, ShutdownTimeout: 2 * time.Second, TaskCheckInterval: time.Millisecond}})
	ctx := context.Background()

	var ids []string
	const cycles, perCycle = 25, 40
	for c := 0; c < cycles; c++ {
		ranBefore := runs.distinct()
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.svc.Work(wctx) }()
		// Tasks keep arriving while Work starts, runs and stops.
		submitted := make(chan []string, 1)
		go func() {
			var got []string
			for i := 0; i < perCycle; i++ {
				e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "tick", Instance: json.RawMessage(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i))})
				if err != nil {
					t.Errorf("submit: %v", err)
					break
				}
				got = append(got, e.ID)
			}
			submitted <- got
		}()
		// Stop once some have run, while the rest are still coming.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if runs.distinct() >= ranBefore+perCycle/4 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("cycle %d: Work did not return", c)
		}
		ids = append(ids, <-submitted...)
	}

	// A last Work runs what is left; every execution ends succeeded once.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.svc.Work(wctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Len(t, ids, cycles*perCycle)
	require.Eventually(t, func() bool {
		n, err := b.svc.Counts(ctx)
		require.NoError(t, err)
		return n[job.StateSucceeded] == int64(len(ids))
	}, 60*time.Second, 20*time.Millisecond, "every execution succeeds")
	got := runs.snapshot()
	for _, id := range ids {
		require.Equal(t, 1, got[id], "%s ran once", id)
	}
}
