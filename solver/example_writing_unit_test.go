package solver_test

// The "testing" listing of docs/writing-a-solver.md (see
// example_writing_test.go).

// doc:begin unit-test
import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

// TestBalanceApp runs the App's job function the way a worker does, with
// a bare job.Context: no Redis, no Service.
func TestBalanceApp(t *testing.T) {
	def := balanceApp().Definition()
	require.NoError(t, def.Err()) // what Register would refuse

	instance := json.RawMessage(`{"machines": 2, "tasks": [
		{"name": "a", "duration": 3}, {"name": "b", "duration": 3},
		{"name": "c", "duration": 2}, {"name": "d", "duration": 2},
		{"name": "e", "duration": 2}]}`)
	for solver, want := range map[string]float64{"lpt": 7, "search": 7, "search.swap": 6} {
		out, err := def.Func(context.Background(), &job.Context{Solver: solver, Instance: instance})
		require.NoError(t, err, solver)
		res := out.(*job.Result)
		require.Equal(t, want, *res.Objective, solver)
		require.Empty(t, res.Checks, solver) // no warning, no finding
	}

	// Stopped mid-solve (here: at the first incumbent), the search returns
	// ctx's error and the App answers with that incumbent, the LPT schedule.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, err := def.Func(ctx, &job.Context{Solver: "search.swap", Instance: instance,
		Reporter: stopOnIncumbent{cancel}})
	require.NoError(t, err)
	res := out.(*job.Result)
	require.Equal(t, job.StatusFeasible, res.Status)
	require.Equal(t, 7.0, *res.Objective)
}

// stopOnIncumbent is a job.Reporter (what stores progress and incumbents
// in a Service) that stops the solve at the first incumbent.
type stopOnIncumbent struct{ stop context.CancelFunc }

func (r stopOnIncumbent) Progress(float64, string) {}

func (r stopOnIncumbent) Incumbent(json.RawMessage, *float64) error {
	r.stop()
	return nil
}

// doc:end unit-test
