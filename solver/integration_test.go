package solver_test

import (
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/servicetest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// These tests run Apps through the whole Service (Submit → queue → Work →
// record) on the package's private Redis.

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func startService(t *testing.T, defs ...*job.Definition) *solvekit.Service {
	return servicetest.Start(t, defs...)
}

// counter is the solution of the "anytime" test app.
type counter struct {
	Step  int     `json:"step"`
	Value float64 `json:"value"`
}

const counterSchema = `{
  "type": "object",
  "required": ["step", "value"],
  "properties": {"step": {"type": "integer", "minimum": 0}, "value": {"type": "number"}},
  "additionalProperties": false
}`

// anytimeApp's solver improves its solution every 10 ms until ctx ends,
// publishing each as an incumbent. Solver "anytime" returns its best
// solution when stopped; sub-solver "anytime.quits" returns ctx.Err()
// instead, leaving the App to fall back to the last incumbent.
func anytimeApp() *solver.App {
	return &solver.App{
		Name:           "anytime",
		SolutionSchema: []byte(counterSchema),
		ConfigSchema:   []byte(`{"type":"object","properties":{"solver":{"type":"string"},"time_limit":{"type":"number"}}}`),
		Solvers: map[string]solver.Solver{"anytime": solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
			best := counter{}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					in.Logger().Info("stopping", "step", best.Step, "cause", context.Cause(ctx).Error())
					if in.SubSolver == "quits" {
						return nil, ctx.Err()
					}
					return &job.Result{Solution: best, Objective: job.Float(best.Value)}, nil
				case <-tick.C:
				}
				best = counter{Step: best.Step + 1, Value: float64(best.Step + 1)}
				if err := in.Incumbent(best, best.Value); err != nil {
					return nil, err
				}
				in.Log.Progress(solver.ProgressRow{Node: int64(best.Step), BestInteger: job.Float(best.Value)})
			}
		})},
		KPIs: []solver.KPI{solver.KPIOf("steps", func(_ any, c counter) float64 { return float64(c.Step) })},
	}
}

func solutionOf(t *testing.T, svc *solvekit.Service, id string) counter {
	t.Helper()
	raw, err := svc.Solution(context.Background(), id)
	require.NoError(t, err)
	var c counter
	require.NoError(t, json.Unmarshal(raw, &c))
	return c
}

// TestServiceStopKeepsIncumbent stops a pure Go solver mid-solve through
// Service.Cancel: the execution is stopped, its solver status feasible,
// and its solution the best it had (returned, or the last incumbent when
// the solver returns only ctx.Err()).
func TestServiceStopKeepsIncumbent(t *testing.T) {
	svc := startService(t, anytimeApp().Definition())
	ctx := context.Background()
	for _, name := range []string{"anytime", "anytime.quits"} {
		t.Run(name, func(t *testing.T) {
			e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "anytime", Instance: json.RawMessage(`{}`), Solver: name})
			require.NoError(t, err)
			seen := servicetest.WaitIncumbent(t, svc, e.ID, 10*time.Second)
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, svc.Cancel(ctx, e.ID))
			e = servicetest.Wait(t, svc, e.ID, 10*time.Second)

			require.Equal(t, job.StateStopped, e.State)
			require.Equal(t, job.StatusFeasible, e.SolverStatus)
			require.True(t, e.HasSolution)
			require.Nil(t, e.Error)
			sol := solutionOf(t, svc, e.ID)
			require.GreaterOrEqual(t, sol.Value, *seen.Objective, "the stop keeps at least the incumbent seen before it")
			require.NotNil(t, e.Objective)
			require.Equal(t, sol.Value, *e.Objective)
			require.Equal(t, float64(sol.Step), e.KPIs["steps"], "KPIs run on the kept solution")
			require.EqualValues(t, solver.StatusCodeFeasible, e.SolverLog["status_code"])
			require.EqualValues(t, sol.Value, e.SolverLog["best_solution"])
		})
	}
}

// TestServiceTimeLimitKeepsIncumbent reaches the time limit, given as the
// config's time_limit (the App's deadline: the solver's own limit, so the
// execution succeeds) and as the execution's timeout (the runtime's hard
// deadline: timed_out); either way solver status time_limit, and the
// incumbent as solution.
func TestServiceTimeLimitKeepsIncumbent(t *testing.T) {
	svc := startService(t, anytimeApp().Definition())
	ctx := context.Background()
	for _, tc := range []struct {
		name, solver, config string
		timeout              time.Duration
		state                job.State
	}{
		{"config-time_limit", "anytime", `{"time_limit":0.5}`, 0, job.StateSucceeded},
		{"config-time_limit-quits", "anytime.quits", `{"time_limit":0.5}`, 0, job.StateSucceeded},
		{"execution-timeout", "anytime", `{}`, 500 * time.Millisecond, job.StateTimedOut},
		{"execution-timeout-quits", "anytime.quits", `{}`, 500 * time.Millisecond, job.StateTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "anytime", Instance: json.RawMessage(`{}`),
				Solver: tc.solver, Config: json.RawMessage(tc.config), Timeout: tc.timeout})
			require.NoError(t, err)
			e = servicetest.Wait(t, svc, e.ID, 10*time.Second)
			took := time.Since(start)
			t.Logf("%s: %s after %v", tc.name, e.State, took)

			require.Equal(t, tc.state, e.State)
			require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
			require.True(t, e.HasSolution)
			sol := solutionOf(t, svc, e.ID)
			require.Positive(t, sol.Step, "the incumbent reached before the limit is kept")
			require.Equal(t, sol.Value, *e.Objective)
			require.EqualValues(t, solver.StatusCodeTimeLimit, e.SolverLog["status_code"])
			require.EqualValues(t, solver.SolCodeFeasible, e.SolverLog["sol_code"])

			logs, err := svc.Logs(ctx, e.ID, "", 100)
			require.NoError(t, err)
			var stopping bool
			for _, l := range logs {
				if l.Message == "stopping" {
					stopping = true
				}
			}
			require.True(t, stopping, "the solver's log is stored: %+v", logs)
		})
	}
}

// tour is the solution of the "route" app; its schema wants a tour of
// city indexes and a non-negative length.
const tourSchema = `{
  "type": "object",
  "required": ["tour", "length"],
  "properties": {
    "tour": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "length": {"type": "number", "minimum": 0}
  }
}`

// TestServiceInvalidSolutionFails has a solver return a solution that
// breaks the solution schema: the execution fails with error kind
// invalid_solution, every violation listed, and no solution stored. An
// incumbent that breaks the schema is refused when published.
func TestServiceInvalidSolutionFails(t *testing.T) {
	incErr := make(chan error, 1)
	app := &solver.App{
		Name:           "route",
		SolutionSchema: []byte(tourSchema),
		Solvers: map[string]solver.Solver{"broken": solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
			bad := map[string]any{"tour": []any{0, "two", -1}, "length": -5}
			incErr <- in.Incumbent(bad, -5)
			return &job.Result{Solution: bad, Status: job.StatusFeasible, Objective: job.Float(-5)}, nil
		})},
	}
	svc := startService(t, app.Definition())
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "route", Instance: json.RawMessage(`{"cities":3}`)})
	require.NoError(t, err)
	e = servicetest.Wait(t, svc, e.ID, 10*time.Second)

	require.Equal(t, job.StateFailed, e.State)
	require.NotNil(t, e.Error)
	require.Equal(t, "invalid_solution", e.Error.Kind)
	require.Equal(t, 0, e.Retries, "an invalid solution is not retried")
	require.False(t, e.HasSolution)
	pointers := map[string]string{}
	for _, v := range e.Error.Violations {
		pointers[v.Pointer] = v.Keyword
	}
	require.Equal(t, map[string]string{"/tour/1": "type", "/tour/2": "minimum", "/length": "minimum"}, pointers,
		"violations: %+v", e.Error.Violations)
	_, err = svc.Solution(ctx, e.ID)
	require.ErrorIs(t, err, job.ErrNotFound)

	err = <-incErr
	require.ErrorIs(t, err, job.ErrInvalid, "the incumbent is refused too")
	require.ErrorContains(t, err, "/tour/1")
}

// TestServiceChecksAndKPIsStored runs a small App end to end: its
// instance check warning, solution check finding, KPIs and structured log
// are stored with the execution; an instance check error fails the
// execution before the solve with the findings as details.
func TestServiceChecksAndKPIsStored(t *testing.T) {
	type inst struct {
		Numbers []float64 `json:"numbers"`
	}
	type sum struct {
		Total float64 `json:"total"`
	}
	var solved atomic.Int32
	app := &solver.App{
		Name: "adder",
		Solvers: map[string]solver.Solver{"sum": solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
			solved.Add(1)
			var x inst
			if err := in.DecodeInstance(&x); err != nil {
				return nil, err
			}
			s := sum{}
			for _, n := range x.Numbers {
				s.Total += n
			}
			return &job.Result{Solution: s, Objective: job.Float(s.Total)}, nil
		})},
		InstanceChecks: []solver.Check{
			solver.InstanceCheck("not_empty", func(x inst) []string {
				if len(x.Numbers) == 0 {
					return []string{"no numbers"}
				}
				return nil
			}),
			solver.InstanceCheck("few_numbers", func(x inst) []string {
				if len(x.Numbers) < 3 {
					return []string{"fewer than 3 numbers"}
				}
				return nil
			}).AsWarning(),
		},
		SolutionChecks: []solver.Check{solver.SolutionCheck("positive", func(_ inst, s sum) []string {
			if s.Total <= 0 {
				return []string{"total is not positive"}
			}
			return nil
		})},
		KPIs: []solver.KPI{solver.KPIOf("mean", func(x inst, s sum) float64 { return s.Total / float64(len(x.Numbers)) })},
	}
	svc := startService(t, app.Definition())
	ctx := context.Background()

	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "adder", Instance: json.RawMessage(`{"numbers":[-4,1]}`)})
	require.NoError(t, err)
	e = servicetest.Wait(t, svc, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, job.StatusOptimal, e.SolverStatus)
	require.Equal(t, -3.0, *e.Objective)
	require.Equal(t, []job.CheckResult{
		{Name: "few_numbers", Stage: "instance", Message: "fewer than 3 numbers", IsWarning: true},
		{Name: "positive", Stage: "solution", Message: "total is not positive"},
	}, e.Checks)
	require.Equal(t, map[string]float64{"mean": -1.5}, e.KPIs)
	require.Equal(t, "sum", e.SolverLog["solver"])
	require.EqualValues(t, solver.StatusCodeOptimal, e.SolverLog["status_code"])

	e, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "adder", Instance: json.RawMessage(`{"numbers":[]}`)})
	require.NoError(t, err)
	e = servicetest.Wait(t, svc, e.ID, 10*time.Second)
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, "failure", e.Error.Kind)
	require.Equal(t, "instance checks failed", e.Error.Message)
	require.Equal(t, 0, e.Retries)
	b, _ := json.Marshal(e.Error.Details)
	require.Contains(t, string(b), `"no numbers"`)
	require.EqualValues(t, 1, solved.Load(), "the solver never ran on the refused instance")
}
