// Package servicetest holds test helpers that run a whole solvekit Service
// with a worker on the test package's private Redis (internal/redistest),
// for the packages whose tests go through Submit → queue → Work → record.
package servicetest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

// Start returns a Service with defs registered and a worker (concurrency 4)
// running on a fresh database of the private Redis; both stop when t ends.
func Start(t *testing.T, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	srv := redistest.Current(t)
	rdb := redis.NewClient(srv.Options(srv.DB(t)))
	t.Cleanup(func() { rdb.Close() })
	svc, err := solvekit.New(solvekit.Config{
		Redis:       rdb,
		Concurrency: 4,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	require.NoError(t, svc.Register(defs...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Work(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		require.NoError(t, svc.Close())
	})
	return svc
}

// Wait waits for an execution to end, failing t after within.
func Wait(t *testing.T, svc *solvekit.Service, id string, within time.Duration) *job.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	e, err := svc.Wait(ctx, id)
	require.NoError(t, err, "execution %s did not finish within %s: %+v", id, within, e)
	return e
}

// WaitIncumbent polls until the execution runs and has stored an incumbent
// (its record then carries the incumbent's objective); it fails t if the
// execution ends first or within passes.
func WaitIncumbent(t *testing.T, svc *solvekit.Service, id string, within time.Duration) *job.Execution {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e, err := svc.Get(context.Background(), id)
		require.NoError(t, err)
		require.False(t, e.State.Terminal(), "execution ended before it published an incumbent: %+v", e)
		if e.State == job.StateRunning && e.Objective != nil {
			return e
		}
		require.True(t, time.Now().Before(deadline), "no incumbent within %s: %+v", within, e)
		time.Sleep(20 * time.Millisecond)
	}
}
