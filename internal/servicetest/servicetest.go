// Package servicetest holds test helpers that run a whole solvekit Service
// with a worker on the test package's private Redis (internal/redistest),
// for the packages whose tests go through Submit → queue → Work → record.
package servicetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

// Start returns a Service with defs registered and a worker (concurrency 4)
// running on a fresh database of the private Redis; both stop when t ends.
// It is solvekittest.Start on that database.
func Start(t *testing.T, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	return solvekittest.Start(t, solvekittest.Options{Config: solvekit.Config{Redis: redistest.Client(t)}}, defs...)
}

// Wait waits for an execution to end, failing t after within (what the
// wait takes on an idle machine) stretched by patience.Scale.
func Wait(t *testing.T, svc *solvekit.Service, id string, within time.Duration) *job.Execution {
	t.Helper()
	return solvekittest.Wait(t, svc, id, patience.Scale(within))
}

// WaitState waits until an execution is in state, failing t after within
// (what the wait takes on an idle machine) stretched by patience.Scale.
func WaitState(t *testing.T, svc *solvekit.Service, id string, state job.State, within time.Duration) *job.Execution {
	t.Helper()
	return solvekittest.WaitState(t, svc, id, state, patience.Scale(within))
}

// WaitIncumbent polls until the execution runs and has stored an incumbent
// (its record then carries the incumbent's objective); it fails t if the
// execution ends first or within (stretched by patience.Scale) passes.
func WaitIncumbent(t *testing.T, svc *solvekit.Service, id string, within time.Duration) *job.Execution {
	t.Helper()
	within = patience.Scale(within)
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
