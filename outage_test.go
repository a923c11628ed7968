package solvekit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

func echoAsync() *job.Definition {
	return job.Async("echo", func(ctx context.Context, jc *job.Context) (any, error) { return jc.Instance, nil })
}

// TestServiceWhenRedisIsDown: with Redis stopped, the Service's methods
// fail with job.ErrUnavailable (code unavailable), and Submit's error
// means that nothing was created.
func TestServiceWhenRedisIsDown(t *testing.T) {
	// A small pool stops dialling (and logging each failure) after a few
	// failed dials, until a background probe reaches the server again.
	rdb, stop := redistest.Stoppable(t, 4)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	require.NoError(t, svc.Register(echoAsync()))
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)

	stop()
	for name, call := range map[string]func() error{
		"submit": func() error {
			_, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{}`)})
			return err
		},
		"get":      func() error { _, err := svc.Get(ctx, e.ID); return err },
		"solution": func() error { _, err := svc.Solution(ctx, e.ID); return err },
		"list":     func() error { _, _, err := svc.List(ctx, solvekit.ListOptions{}); return err },
		"cancel":   func() error { return svc.Cancel(ctx, e.ID) },
		"counts":   func() error { _, err := svc.Counts(ctx); return err },
		"logs":     func() error { _, err := svc.Logs(ctx, e.ID, "", 10); return err },
	} {
		err := call()
		require.ErrorIs(t, err, job.ErrUnavailable, "%s: %v", name, err)
		require.Equal(t, job.CodeUnavailable, job.ErrorCode(err), name)
	}
}

// TestSubmitErrorForACreatedExecution: when the connection breaks after
// Submit's write reached Redis and Redis then refuses connections, Submit
// says that the outcome is unknown (job.ErrOutcomeUnknown), returns the
// record it sent and names it in the message; the execution exists.
func TestSubmitErrorForACreatedExecution(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{echoAsync()}})
	f := &redistest.Faults{Only: redistest.WritesInput}
	b.rdb.AddHook(f)
	f.RefuseAfterLoss.Store(-1)
	f.Lose.Store(true)
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.ErrorIs(t, err, job.ErrOutcomeUnknown)
	require.Equal(t, job.CodeOutcomeUnknown, job.ErrorCode(err))
	require.NotNil(t, e)
	require.Contains(t, err.Error(), e.ID)
	f.Refuse.Store(0)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, got.State)
}
