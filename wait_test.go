package solvekit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/servicewait"
	"github.com/solvekit/solvekit/job"
)

// gateJob blocks every execution until release is closed.
func gateJob(name string, release <-chan struct{}) *job.Definition {
	return job.Async(name, func(ctx context.Context, jc *job.Context) (any, error) {
		select {
		case <-release:
			return map[string]int{"ok": 1}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}

// waitersGone waits until svc keeps no subscription, pending SUBSCRIBE or
// done-channel subscription on Redis for the ids.
func waitersGone(t *testing.T, b *bundle, svc *solvekit.Service, ids ...string) {
	t.Helper()
	ctx := context.Background()
	var chans []string
	for _, id := range ids {
		chans = append(chans, solvekit.StoreOf(svc).DoneChannel(id))
	}
	require.Eventually(t, func() bool {
		w, p := solvekit.WaitState(svc)
		if w != 0 || p != 0 {
			return false
		}
		n, err := b.rdb.PubSubNumSub(ctx, chans...).Result()
		require.NoError(t, err)
		for _, c := range chans {
			if n[c] != 0 {
				return false
			}
		}
		return true
	}, patience.Scale(10*time.Second), 5*time.Millisecond, "a wait left a subscription behind")
}

// waitGoroutines counts the goroutines inside a Wait.
func waitGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "solvekit.(*Service).Wait(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// noWaitGoroutines waits until no goroutine is inside a Wait.
func noWaitGoroutines(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return waitGoroutines() == 0 },
		patience.Scale(10*time.Second), 10*time.Millisecond, "goroutines left in Wait")
}

// TestWaitManyWaiters: many Waits in another process, several on each
// execution, share one subscription per execution, are all woken by the
// finishes (one notification per execution), and leave no subscription,
// bookkeeping or goroutine behind.
func TestWaitManyWaiters(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{gateJob("gate", release)}})
	ctx := context.Background()
	waiter, err := solvekit.New(ctx, solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger()})
	require.NoError(t, err)
	defer waiter.Close()
	const execs, per = 12, 5
	var ids []string
	for range execs {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	var blocked atomic.Int64
	solvekit.SetWaitBlocked(waiter, func(string) { blocked.Add(1) })
	var wg sync.WaitGroup
	errs := make(chan error, execs*per)
	for _, id := range ids {
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, err := waiter.Wait(ctx, id)
				if err == nil && e.State != job.StateSucceeded {
					err = &job.Error{Code: job.CodeInternal, Message: "woken before the end: " + string(e.State)}
				}
				errs <- err
			}()
		}
	}
	require.Eventually(t, func() bool { return blocked.Load() >= execs*per },
		patience.Scale(10*time.Second), 5*time.Millisecond, "every Wait reads the record once it is subscribed")
	for _, id := range ids {
		done := solvekit.StoreOf(waiter).DoneChannel(id)
		n, err := b.rdb.PubSubNumSub(ctx, done).Result()
		require.NoError(t, err)
		require.Equal(t, int64(1), n[done], "one subscription per execution, however many wait on it")
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(execs), solvekit.DoneHeard(waiter), "one notification per execution")
	waitersGone(t, b, waiter, ids...)
	noWaitGoroutines(t)
}

// TestWaitCancelled: a Wait whose context ends returns the record as it
// is with the context's error, and its subscription goes; another Wait
// on the same execution is not disturbed.
func TestWaitCancelled(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{gateJob("gate", release)}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)

	var blocked atomic.Int64
	solvekit.SetWaitBlocked(b.svc, func(string) { blocked.Add(1) })
	stay := make(chan *job.Execution, 1)
	go func() {
		x, _ := b.svc.Wait(ctx, e.ID)
		stay <- x
	}()
	cctx, cancel := context.WithCancel(ctx)
	got := make(chan error, 1)
	var x *job.Execution
	go func() {
		var err error
		x, err = b.svc.Wait(cctx, e.ID)
		got <- err
	}()
	require.Eventually(t, func() bool { return blocked.Load() == 2 }, patience.Scale(10*time.Second), 5*time.Millisecond)
	cancel()
	select {
	case err := <-got:
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, job.StateRunning, x.State, "the record as it was")
	case <-time.After(patience.Scale(10 * time.Second)):
		t.Fatal("a cancelled Wait did not return")
	}
	w, _ := solvekit.WaitState(b.svc)
	require.Equal(t, 1, w, "the other Wait keeps the subscription")
	close(release)
	select {
	case x := <-stay:
		require.Equal(t, job.StateSucceeded, x.State)
	case <-time.After(patience.Scale(10 * time.Second)):
		t.Fatal("the remaining Wait was not woken")
	}
	waitersGone(t, b, b.svc, e.ID)
	noWaitGoroutines(t)

	// Cancelled before it starts: the record, at once.
	cctx, cancel = context.WithCancel(ctx)
	cancel()
	x, err = b.svc.Wait(cctx, e.ID)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, job.StateSucceeded, x.State)
	waitersGone(t, b, b.svc, e.ID)
}

// TestWaitAfterTheEnd: a Wait that starts after the execution ended
// returns it at once, with no notification to hear.
func TestWaitAfterTheEnd(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{echoAsync()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateSucceeded)
	heard := solvekit.DoneHeard(b.svc)
	x, err := b.svc.Wait(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, x.State)
	require.Equal(t, heard, solvekit.DoneHeard(b.svc))
	waitersGone(t, b, b.svc, e.ID)
}

// TestSubmitWait covers the REST layer's submit-and-wait: it answers the
// terminal record of a job that ends within the wait, the queued record
// and the deadline when it does not, the terminal record of a sync job,
// and leaves no subscription behind.
func TestSubmitWait(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: []*job.Definition{echoAsync(), gateJob("gate", release),
		job.Sync("now", func(ctx context.Context, jc *job.Context) (any, error) { return map[string]int{"n": 1}, nil })}})
	ctx := context.Background()
	long := patience.Scale(30 * time.Second)

	e, replayed, werr, err := servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)}, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.False(t, replayed)
	require.Equal(t, job.StateSucceeded, e.State)
	require.True(t, e.HasSolution)

	// With an idempotency key: the repeat answers the first execution,
	// ended, and says it replayed.
	keyed := solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":2}`), IdempotencyKey: "k1"}
	first, replayed, werr, err := servicewait.SubmitWait(b.svc, ctx, keyed, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.False(t, replayed)
	require.Equal(t, job.StateSucceeded, first.State)
	again, replayed, werr, err := servicewait.SubmitWait(b.svc, ctx, keyed, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.True(t, replayed)
	require.Equal(t, first.ID, again.ID)

	e, _, werr, err = servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)}, 50*time.Millisecond)
	require.NoError(t, err)
	require.ErrorIs(t, werr, context.DeadlineExceeded)
	require.False(t, e.State.Terminal())
	gated := e.ID

	e, _, werr, err = servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "now", Instance: json.RawMessage(`{}`)}, long)
	require.NoError(t, err)
	require.NoError(t, werr)
	require.Equal(t, job.StateSucceeded, e.State)

	_, _, _, err = servicewait.SubmitWait(b.svc, ctx, solvekit.SubmitRequest{JobType: "nope", Instance: json.RawMessage(`{}`)}, long)
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))

	close(release)
	waitState(t, b, gated, job.StateSucceeded)
	waitersGone(t, b, b.svc, gated)
}

// TestWaitThroughAnOutage: Waits blocked when Redis stops return an
// unavailable error instead of hanging, leave nothing behind, and the
// service still closes.
func TestWaitThroughAnOutage(t *testing.T) {
	rdb, stop := redistest.Stoppable(t, 4)
	release := make(chan struct{})
	defer close(release)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, svc.Register(gateJob("gate", release)))
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "gate", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)

	var blocked atomic.Int64
	solvekit.SetWaitBlocked(svc, func(string) { blocked.Add(1) })
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := svc.Wait(ctx, e.ID)
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return blocked.Load() == n }, patience.Scale(10*time.Second), 5*time.Millisecond)
	stop()
	for range n {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, job.ErrUnavailable)
		case <-time.After(patience.Scale(30 * time.Second)):
			t.Fatal("a Wait hung through the outage")
		}
	}
	require.Eventually(t, func() bool { w, p := solvekit.WaitState(svc); return w == 0 && p == 0 },
		patience.Scale(10*time.Second), 5*time.Millisecond)
	noWaitGoroutines(t)
	closed := make(chan error, 1)
	go func() { closed <- svc.Close() }()
	select {
	case <-closed:
	case <-time.After(patience.Scale(30 * time.Second)):
		t.Fatal("Close hung after the outage")
	}
	// After Close, a Wait does not hang on a subscription that will never
	// be sent.
	wctx, cancel := context.WithTimeout(ctx, patience.Scale(10*time.Second))
	defer cancel()
	_, err = svc.Wait(wctx, e.ID)
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}
