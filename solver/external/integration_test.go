//go:build unix

package external_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/servicetest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
	"github.com/solvekit/solvekit/solver/external"
)

// These tests run MIPApp through the whole Service: Submit → queue →
// Work (CBC or glpsol as a process) → the execution record, on the
// package's private Redis.

// startService returns a Service running MIPApp("mip") with a worker, on
// a fresh database; both stop when t ends.
func startService(t *testing.T, opts ...external.Option) *solvekit.Service {
	return servicetest.Start(t, external.MIPApp("mip", opts...).Definition())
}

func submit(t *testing.T, svc *solvekit.Service, m external.Model, req solvekit.SubmitRequest) string {
	t.Helper()
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	req.JobType, req.Instance = "mip", raw
	e, err := svc.Submit(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, e.State)
	return e.ID
}

func storedSolution(t *testing.T, svc *solvekit.Service, id string) external.Solution {
	t.Helper()
	raw, err := svc.Solution(context.Background(), id)
	require.NoError(t, err)
	var s external.Solution
	require.NoError(t, json.Unmarshal(raw, &s))
	return s
}

// TestServiceSolvesHandModels: the MPS and LP models whose optimum is
// worked out by hand beside tinyMPS and tinyLP (9 and 8) are solved by
// CBC and by GLPK through the Service, and the record stores that
// objective with solver status optimal.
func TestServiceSolvesHandModels(t *testing.T) {
	svc := startService(t)
	cases := []struct {
		name  string
		model external.Model
		obj   float64
		vars  map[string]float64
	}{
		{"mps", external.Model{Format: external.FormatMPS, Model: tinyMPS}, 9, map[string]float64{"a": 1, "b": 1}},
		{"lp", external.Model{Format: external.FormatLP, Model: tinyLP}, 8, map[string]float64{"y": 4}},
	}
	for _, engine := range []string{"cbc", "glpk", "mip.glpk"} {
		for _, tc := range cases {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				needEngine(t, engine)
				id := submit(t, svc, tc.model, solvekit.SubmitRequest{Config: json.RawMessage(`{"solver":"` + engine + `"}`)})
				e := servicetest.Wait(t, svc, id, 30*time.Second)
				require.Equal(t, job.StateSucceeded, e.State, "%+v", e.Error)
				require.Equal(t, job.StatusOptimal, e.SolverStatus)
				require.Equal(t, engine, e.Solver)
				require.NotNil(t, e.Objective)
				require.InDelta(t, tc.obj, *e.Objective, 1e-6)
				sol := storedSolution(t, svc, id)
				require.Equal(t, job.StatusOptimal, sol.Status)
				require.InDelta(t, tc.obj, *sol.Objective, 1e-6)
				require.Len(t, sol.Variables, len(tc.vars))
				for k, v := range tc.vars {
					require.InDelta(t, v, sol.Variables[k], 1e-6, k)
				}
				require.InDelta(t, tc.obj, e.KPIs["objective"], 1e-6)
				require.Equal(t, strings.TrimPrefix(engine, "mip."), e.SolverLog["solver"])
				require.EqualValues(t, solver.StatusCodeOptimal, e.SolverLog["status_code"])
				require.InDelta(t, tc.obj, e.SolverLog["best_solution"], 1e-6)
				logs, err := svc.Logs(context.Background(), id, "", 1000)
				require.NoError(t, err)
				out := 0
				for _, l := range logs {
					if l.Attrs["stream"] == "stdout" {
						out++
					}
				}
				require.Greater(t, out, 3, "the solver's output is in the execution log")
			})
		}
	}
}

// TestServiceOptimalBoundIsObjective: on a model whose search shows node
// reports with a bound above the optimum (a 3-constraint knapsack of 33
// binaries), an optimal run's best bound is its objective and its gap 0,
// for CBC and GLPK: the search proved it. The last node report's bound,
// taken before the proof, stays in the progress table.
func TestServiceOptimalBoundIsObjective(t *testing.T) {
	svc := startService(t)
	model := external.Model{Format: external.FormatLP, Model: multiKnapsackLP(33, 3, 7)}
	for _, engine := range []string{"cbc", "glpk"} {
		t.Run(engine, func(t *testing.T) {
			needEngine(t, engine)
			id := submit(t, svc, model, solvekit.SubmitRequest{Config: json.RawMessage(`{"solver":"` + engine + `"}`)})
			e := servicetest.Wait(t, svc, id, time.Minute)
			require.Equal(t, job.StateSucceeded, e.State, "%+v", e.Error)
			require.Equal(t, job.StatusOptimal, e.SolverStatus)
			require.NotNil(t, e.Objective)
			require.NotNil(t, e.BestBound)
			require.Equal(t, *e.Objective, *e.BestBound)
			require.EqualValues(t, 0, e.SolverLog["gap"])
			require.EqualValues(t, *e.Objective, e.SolverLog["best_bound"])
			rows, _ := e.SolverLog["progress"].([]any)
			require.NotEmpty(t, rows, "%s reported its search", engine)
		})
	}
}

// multiKnapsackLP writes a maximisation of n binaries under m knapsack
// constraints (each at a third of its weights' sum) in LP format, from a
// fixed seed.
func multiKnapsackLP(n, m int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed))
	var b strings.Builder
	b.WriteString("Maximize\n profit:")
	for j := range n {
		fmt.Fprintf(&b, " + %d x%d", 10+r.IntN(91), j)
	}
	b.WriteString("\nSubject To\n")
	for i := range m {
		sum := 0
		fmt.Fprintf(&b, " c%d:", i)
		for j := range n {
			w := 5 + r.IntN(56)
			sum += w
			fmt.Fprintf(&b, " + %d x%d", w, j)
		}
		fmt.Fprintf(&b, " <= %d\n", sum/3)
	}
	b.WriteString("Binary\n")
	for j := range n {
		fmt.Fprintf(&b, " x%d", j)
	}
	b.WriteString("\nEnd\n")
	return b.String()
}

// TestServiceCBCLogReadableWhileRunning runs CBC for 4 s (config
// time_limit) on a knapsack it needs minutes for and reads the execution
// log while the record still says running: CBC's lines are there before
// the execution ends. The run reaches its own time limit (the config's):
// it succeeds with status time_limit and CBC's best solution.
func TestServiceCBCLogReadableWhileRunning(t *testing.T) {
	needCBC(t)
	svc := startService(t)
	k := newMKP(200, 15, 7)
	ctx := context.Background()
	start := time.Now()
	id := submit(t, svc, external.Model{Format: external.FormatMPS, Model: k.MPS()},
		solvekit.SubmitRequest{Config: json.RawMessage(`{"solver":"cbc","time_limit":4}`)})

	var whileRunning, cbcLines int
	var firstSeen time.Duration
	var incumbentWhileRunning bool
	var e *job.Execution
	for {
		// Logs first, then the state: lines read before a "running" state
		// were readable while the execution ran.
		logs, err := svc.Logs(ctx, id, "", 10000)
		require.NoError(t, err)
		e, err = svc.Get(ctx, id)
		require.NoError(t, err)
		if e.State.Terminal() {
			break
		}
		if e.State == job.StateRunning {
			n, c := 0, 0
			for _, l := range logs {
				if l.Attrs["stream"] == "stdout" && l.Attrs["solver"] == "cbc" {
					n++
					if strings.HasPrefix(l.Message, "Cbc") || strings.Contains(l.Message, "Integer solution of") {
						c++
					}
				}
			}
			if n > 0 && whileRunning == 0 {
				firstSeen = time.Since(start)
			}
			whileRunning, cbcLines = n, c
			incumbentWhileRunning = incumbentWhileRunning || e.Objective != nil
		}
		if time.Since(start) > patience.Scale(30*time.Second) {
			t.Fatalf("execution still %s after %v", e.State, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("first CBC line read %v after submit; %d lines (%d Cbc/solution lines) read while running; ended %s after %v",
		firstSeen, whileRunning, cbcLines, e.State, took)
	require.Greater(t, whileRunning, 0, "no CBC output was readable while the execution ran")
	require.Greater(t, cbcLines, 0, "CBC's progress lines were readable while it ran")
	require.True(t, incumbentWhileRunning, "the incumbent objective is on the record while it runs")

	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
	sol := storedSolution(t, svc, id)
	require.InDelta(t, k.verify(t, sol.Variables), *e.Objective, 1e-6)
	require.EqualValues(t, solver.StatusCodeTimeLimit, e.SolverLog["status_code"])
}

// TestServiceCBCStopKeepsIncumbent stops CBC mid-solve with
// Service.Cancel once an incumbent is stored: the execution is stopped
// with CBC's best solution (complete, feasible, at least as good as the
// incumbent seen before the stop).
func TestServiceCBCStopKeepsIncumbent(t *testing.T) {
	needCBC(t)
	svc := startService(t)
	k := newMKP(200, 15, 7)
	ctx := context.Background()
	id := submit(t, svc, external.Model{Format: external.FormatMPS, Model: k.MPS()}, solvekit.SubmitRequest{})
	seen := servicetest.WaitIncumbent(t, svc, id, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	stopAt := time.Now()
	require.NoError(t, svc.Cancel(ctx, id))
	e := servicetest.Wait(t, svc, id, 20*time.Second)
	t.Logf("stopped %v after Cancel", time.Since(stopAt))

	require.Equal(t, job.StateStopped, e.State)
	require.Equal(t, job.StatusFeasible, e.SolverStatus)
	require.True(t, e.HasSolution)
	sol := storedSolution(t, svc, id)
	require.NotEmpty(t, sol.Variables, "CBC writes its best solution on SIGINT")
	profit := k.verify(t, sol.Variables)
	require.InDelta(t, profit, *e.Objective, 1e-6)
	require.GreaterOrEqual(t, *e.Objective, *seen.Objective-1e-6, "maximisation: the stop keeps at least the incumbent seen")
	require.NotNil(t, e.BestBound)
	require.GreaterOrEqual(t, *e.BestBound, *e.Objective-1e-6)
}

// TestServiceTimeLimitExternal gives CBC and GLPK a 3 s execution timeout
// (the runtime's deadline, passed on to the solver with headroom): each
// stops on its own with status time_limit and the solver's best solution.
// Returned before the deadline, the execution succeeds; on a machine so
// loaded that the deadline passes first, it is timed_out (the runtime's
// hard limit), with the same solution.
func TestServiceTimeLimitExternal(t *testing.T) {
	svc := startService(t)
	k := newMKP(200, 15, 7)
	for _, engine := range []string{"cbc", "glpk"} {
		t.Run(engine, func(t *testing.T) {
			needEngine(t, engine)
			start := time.Now()
			id := submit(t, svc, external.Model{Format: external.FormatMPS, Model: k.MPS()},
				solvekit.SubmitRequest{Solver: engine, Timeout: 3 * time.Second})
			e := servicetest.Wait(t, svc, id, 30*time.Second)
			t.Logf("%s: %s/%s after %v", engine, e.State, e.SolverStatus, time.Since(start))
			require.Contains(t, []job.State{job.StateSucceeded, job.StateTimedOut}, e.State, "%+v", e.Error)
			require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
			sol := storedSolution(t, svc, id)
			require.Equal(t, job.StatusTimeLimit, sol.Status)
			require.NotEmpty(t, sol.Variables)
			require.InDelta(t, k.verify(t, sol.Variables), *e.Objective, 1e-6)
		})
	}
}

// TestServiceGLPKStopKeepsLogIncumbent stops glpsol, which dies on SIGINT
// without writing a solution: the execution is stopped with the best
// objective from its log, and a warning check says the variables are
// unknown.
func TestServiceGLPKStopKeepsLogIncumbent(t *testing.T) {
	needGLPK(t)
	svc := startService(t)
	k := newMKP(200, 15, 7)
	ctx := context.Background()
	id := submit(t, svc, external.Model{Format: external.FormatMPS, Model: k.MPS()}, solvekit.SubmitRequest{Solver: "glpk"})
	seen := servicetest.WaitIncumbent(t, svc, id, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, svc.Cancel(ctx, id))
	e := servicetest.Wait(t, svc, id, 20*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	require.Equal(t, job.StatusFeasible, e.SolverStatus)
	sol := storedSolution(t, svc, id)
	require.Nil(t, sol.Variables)
	require.GreaterOrEqual(t, *sol.Objective, *seen.Objective-1e-6)
	require.Equal(t, *sol.Objective, *e.Objective)
	var warned bool
	for _, c := range e.Checks {
		warned = warned || (c.Name == "variables_known" && c.IsWarning)
	}
	require.True(t, warned, "checks: %+v", e.Checks)
}
