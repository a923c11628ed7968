package solver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

// TestBalanceMIP runs the guide's CBC-backed solver (solveMIP in
// example_writing_test.go) on the guide's instance: CBC proves the
// optimum 6 and the variables come back as a valid Schedule.
func TestBalanceMIP(t *testing.T) {
	if _, err := exec.LookPath("cbc"); err != nil {
		msg := "!!! cbc not found in PATH: the guide's CBC solver is NOT tested (apt-get install -y coinor-cbc)"
		if os.Getenv("SOLVEKIT_REQUIRE_SOLVERS") != "" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	def := balanceApp().Definition()
	require.NoError(t, def.Err())
	instance := json.RawMessage(`{"machines": 2, "tasks": [
		{"name": "a", "duration": 3}, {"name": "b", "duration": 3},
		{"name": "c", "duration": 2}, {"name": "d", "duration": 2},
		{"name": "e", "duration": 2}, {"name": "f", "duration": 0}]}`)
	out, err := def.Func(context.Background(), &job.Context{Solver: "mip", Instance: instance,
		Config: json.RawMessage(`{"solver":"mip","time_limit":20}`)})
	require.NoError(t, err)
	res := out.(*job.Result)
	require.Equal(t, job.StatusOptimal, res.Status)
	require.InDelta(t, 6, *res.Objective, 1e-9)
	s, ok := res.Solution.(Schedule)
	require.True(t, ok, "%T", res.Solution)
	require.Equal(t, 6, s.Makespan)
	for _, c := range res.Checks {
		require.True(t, c.IsWarning, "finding: %+v", c) // only the zero_duration warning
	}
	require.Equal(t, "cbc", res.SolverLog["solver"])
	require.Equal(t, 6.0, res.KPIs["makespan"])
}
