package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// TestUnknownSolverRefusedWithoutDeclaredSolvers: a job type that declares
// no solvers refuses any solver name, from the request or from the config,
// as invalid input (422 over REST) with nothing stored; without a name it
// runs as before.
func TestUnknownSolverRefusedWithoutDeclaredSolvers(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	inst := json.RawMessage(`{"values":[1,2]}`)
	cases := []struct {
		name    string
		req     solvekit.SubmitRequest
		pointer string
	}{
		{"request field", solvekit.SubmitRequest{JobType: "sum", Instance: inst, Solver: "gurobi"}, "/solver"},
		{"config field", solvekit.SubmitRequest{JobType: "sum", Instance: inst, Config: json.RawMessage(`{"solver":"gurobi"}`)}, "/config/solver"},
		{"dotted name", solvekit.SubmitRequest{JobType: "sum", Instance: inst, Solver: "mip.cbc"}, "/solver"},
	}
	for _, c := range cases {
		_, err := b.svc.Submit(ctx, c.req)
		var je *job.Error
		require.True(t, errors.As(err, &je), "%s: want a job.Error, got %v", c.name, err)
		require.Equal(t, job.CodeInvalid, je.Code, c.name)
		require.Contains(t, je.Message, "unknown solver", c.name)
		require.Len(t, je.Violations, 1, c.name)
		require.Equal(t, c.pointer, je.Violations[0].Pointer, c.name)
	}
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	for st, n := range counts {
		require.Zero(t, n, "an execution was stored in state %s", st)
	}

	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: inst})
	require.NoError(t, err)
	require.Empty(t, e.Solver)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
}

// TestDeclaredSolverChoice: a job type with declared solvers still accepts
// them (sub-solvers too) and refuses other names, pointing at where the
// name came from.
func TestDeclaredSolverChoice(t *testing.T) {
	def := job.Async("pick", func(ctx context.Context, jc *job.Context) (any, error) {
		return map[string]string{"solver": jc.Solver}, nil
	}, job.WithSolvers("a", "a", "b"))
	b := setup(t, setupOpts{defs: []*job.Definition{def}})
	ctx := context.Background()
	inst := json.RawMessage(`{}`)
	for req, want := range map[string]string{"": "a", "b": "b", "b.fast": "b.fast"} {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "pick", Instance: inst, Solver: req})
		require.NoError(t, err, req)
		require.Equal(t, want, e.Solver, req)
	}
	_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "pick", Instance: inst, Solver: "c"})
	var je *job.Error
	require.True(t, errors.As(err, &je), "got %v", err)
	require.Equal(t, "/solver", je.Violations[0].Pointer)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "pick", Instance: inst, Config: json.RawMessage(`{"solver":"c"}`)})
	require.True(t, errors.As(err, &je), "got %v", err)
	require.Equal(t, "/config/solver", je.Violations[0].Pointer)
}

// TestSubmitRefusesUnknownQueue: Submit accepts only a queue the
// configuration's workers serve (Config.Queues and the job types' own);
// any other is invalid, with nothing stored.
func TestSubmitRefusesUnknownQueue(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, cfg: solvekit.Config{Queues: map[string]int{"default": 1, "high": 5}},
		defs: []*job.Definition{sumJob(), job.Async("other", func(context.Context, *job.Context) (any, error) { return nil, nil }, job.WithQueue("reports"))}})
	ctx := context.Background()
	require.Equal(t, []string{"default", "high", "reports"}, b.svc.QueueNames())
	_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), Queue: "nowhere"})
	require.ErrorIs(t, err, job.ErrInvalid)
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/queue", je.Violations[0].Pointer)
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.Zero(t, counts[job.StateQueued], "nothing stored")
	for _, q := range []string{"", "high", "reports"} {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), Queue: q})
		require.NoError(t, err, q)
		if q == "" {
			q = "default"
		}
		require.Equal(t, q, e.Queue)
	}
}
