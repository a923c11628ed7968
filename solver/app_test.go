package solver_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
	"github.com/solvekit/solvekit/solver"
)

// seen records what a solver was called with.
type seen struct {
	mu    sync.Mutex
	calls []solver.Input
}

func (s *seen) solver(name string) solver.Solver {
	return solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		s.mu.Lock()
		s.calls = append(s.calls, *in)
		s.mu.Unlock()
		return &job.Result{Solution: map[string]string{"by": name, "sub": in.SubSolver}}, nil
	})
}

func (s *seen) last() solver.Input {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[len(s.calls)-1]
}

// incs is a job.Reporter recording incumbents.
type incs struct {
	mu   sync.Mutex
	objs []float64
	// onInc, when set, is called with the number of incumbents so far.
	onInc func(n int)
}

func (r *incs) Progress(float64, string) {}

func (r *incs) Incumbent(_ json.RawMessage, obj *float64) error {
	r.mu.Lock()
	r.objs = append(r.objs, *obj)
	n, on := len(r.objs), r.onInc
	r.mu.Unlock()
	if on != nil {
		on(n)
	}
	return nil
}

func run(t *testing.T, ctx context.Context, app *solver.App, jc *job.Context) (*job.Result, error) {
	t.Helper()
	def := app.Definition()
	require.NoError(t, def.Err())
	out, err := def.Func(ctx, jc)
	if err != nil {
		return nil, err
	}
	res, ok := out.(*job.Result)
	require.True(t, ok, "%T", out)
	return res, nil
}

func TestDefinition(t *testing.T) {
	s := &seen{}
	app := &solver.App{
		Name:           "plan",
		Description:    "plans",
		InstanceSchema: []byte(`{"type":"object"}`),
		ConfigSchema:   []byte(`{"type":"object","properties":{"solver":{"type":"string"}}}`),
		SolutionSchema: []byte(`{"type":"object"}`),
		Solvers:        map[string]solver.Solver{"zeta": s.solver("zeta"), "alpha": s.solver("alpha"), "mip": s.solver("mip")},
		DefaultSolver:  "mip",
		Timeout:        time.Minute,
		Queue:          "solvers",
	}
	def := app.Definition()
	require.NoError(t, def.Err())
	require.Equal(t, "plan", def.Name)
	require.Equal(t, job.KindAsync, def.Kind)
	require.Equal(t, "plans", def.Description)
	require.Equal(t, []string{"alpha", "mip", "zeta"}, def.Solvers)
	require.Equal(t, "mip", def.DefaultSolver)
	require.Equal(t, "solvers", def.Queue)
	require.Equal(t, time.Minute, def.Timeout)
	require.JSONEq(t, `{"type":"object"}`, string(def.InstanceSchema))
	require.NotEmpty(t, def.ConfigSchema)
	require.NotEmpty(t, def.SolutionSchema)
	require.Same(t, app, def.Extra)
	_, ok := def.Extra.(job.InstanceChecker)
	require.True(t, ok, "the runtime finds the instance checks through Extra")

	// Options given to Definition win over the App's.
	def = app.Definition(job.WithQueue("other"), job.WithMaxRetries(job.NoRetries))
	require.Equal(t, "other", def.Queue)
	require.Equal(t, 0, def.Retries())

	// Without DefaultSolver: the first name in order.
	app.DefaultSolver = ""
	require.Equal(t, "alpha", app.Definition().DefaultSolver)
}

func TestSolverSelection(t *testing.T) {
	s := &seen{}
	app := &solver.App{
		Name: "plan",
		Solvers: map[string]solver.Solver{
			"mip":       s.solver("mip"),
			"heur":      s.solver("heur"),
			"heur.fast": s.solver("heur.fast"),
		},
		DefaultSolver: "heur",
	}
	for _, tc := range []struct {
		jcSolver, config string
		by, sub          string
	}{
		{"", `{}`, "heur", ""},                            // default
		{"", ``, "heur", ""},                              // no config at all
		{"", `{"solver":"mip"}`, "mip", ""},               // config, when the runtime did not set jc.Solver
		{"mip.cbc", `{"solver":"mip.cbc"}`, "mip", "cbc"}, // cornflow style
		{"mip.gurobi.v11", `{}`, "mip", "gurobi.v11"},     // first dot splits
		{"heur.fast", `{}`, "heur.fast", ""},              // an exact key wins over splitting
		{"heur.slow", `{}`, "heur", "slow"},               // otherwise the family runs
		{"mip", `{"solver":"heur"}`, "mip", ""},           // jc.Solver (set by the runtime) wins
		{"", `{"solver":"mip.glpk","time_limit":5}`, "mip", "glpk"},
	} {
		res, err := run(t, context.Background(), app, &job.Context{Solver: tc.jcSolver, Config: json.RawMessage(tc.config)})
		require.NoError(t, err, tc)
		require.Equal(t, map[string]string{"by": tc.by, "sub": tc.sub}, res.Solution, tc)
		in := s.last()
		require.Equal(t, tc.sub, in.SubSolver)
		require.NotNil(t, in.Log)
		require.NotNil(t, in.Job)
		require.Equal(t, job.StatusOptimal, res.Status, "a solution without a status is optimal (job.Result's rule)")
	}
}

func TestUnknownSolverFails(t *testing.T) {
	s := &seen{}
	app := &solver.App{Name: "plan", Solvers: map[string]solver.Solver{"b": s.solver("b"), "a": s.solver("a")}}
	_, err := run(t, context.Background(), app, &job.Context{Solver: "gurobi"})
	var f *job.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, `unknown solver "gurobi"; available: a, b`, f.Message)
	require.Equal(t, map[string]any{"solver": "gurobi", "available": []string{"a", "b"}}, f.Details)
	require.Empty(t, s.calls)

	// An App without solvers is refused at registration (below); run
	// anyway, it fails every execution.
	_, err = (&solver.App{Name: "empty"}).Definition().Func(context.Background(), &job.Context{})
	require.ErrorAs(t, err, &f)
	require.Contains(t, f.Message, "no solvers")
}

func TestDefinitionRefusesBrokenApp(t *testing.T) {
	s := &seen{}
	for _, tc := range []struct {
		name string
		app  *solver.App
		want string
	}{
		{"no solvers", &solver.App{Name: "a"}, `app "a" has no solvers`},
		{"nil solver", &solver.App{Name: "a", Solvers: map[string]solver.Solver{"x": nil}}, `solver "x" is nil`},
		{"unknown default", &solver.App{Name: "a", Solvers: map[string]solver.Solver{"x": s.solver("x"), "y": s.solver("y")}, DefaultSolver: "z"},
			`default solver "z" is not one of x, y`},
		{"unknown default family", &solver.App{Name: "a", Solvers: map[string]solver.Solver{"x": s.solver("x")}, DefaultSolver: "z.fast"},
			`default solver "z.fast" is not one of x`},
	} {
		def := tc.app.Definition()
		require.ErrorContains(t, def.Err(), tc.want, tc.name)
		err := registry.New().Register(def)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	// A default naming a sub-solver of a known family is fine.
	app := &solver.App{Name: "a", Solvers: map[string]solver.Solver{"mip": s.solver("mip")}, DefaultSolver: "mip.cbc"}
	require.NoError(t, app.Definition().Err())
	require.NoError(t, registry.New().Register(app.Definition()))
}

type shift struct {
	Hours  []float64 `json:"hours"`
	Budget float64   `json:"budget"`
}

type roster struct {
	Assigned []int `json:"assigned"`
}

func TestInstanceChecks(t *testing.T) {
	s := &seen{}
	noNegative := solver.InstanceCheck("no_negative_hours", func(in shift) (msgs []string) {
		for _, h := range in.Hours {
			if h < 0 {
				msgs = append(msgs, "negative hours")
			}
		}
		return msgs
	})
	manyShifts := solver.InstanceCheck("many_shifts", func(in shift) []string {
		if len(in.Hours) > 2 {
			return []string{"more than 2 shifts: slow"}
		}
		return nil
	}).AsWarning()
	pointer := solver.Check{Name: "budget", Func: func(_ context.Context, instance, _ json.RawMessage) ([]job.CheckResult, error) {
		var in shift
		if err := json.Unmarshal(instance, &in); err != nil {
			return nil, err
		}
		if in.Budget == 0 {
			return []job.CheckResult{{Message: "no budget", Pointer: "/budget", IsWarning: true}}, nil
		}
		return nil, nil
	}}
	app := &solver.App{
		Name:           "roster",
		Solvers:        map[string]solver.Solver{"s": s.solver("s")},
		InstanceChecks: []solver.Check{noNegative, manyShifts, pointer},
	}

	// An error finding blocks the solve.
	_, err := run(t, context.Background(), app, &job.Context{Instance: json.RawMessage(`{"hours":[1,-2,3]}`)})
	var f *job.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, "instance checks failed", f.Message)
	require.Equal(t, []job.CheckResult{
		{Name: "no_negative_hours", Stage: "instance", Message: "negative hours"},
		{Name: "many_shifts", Stage: "instance", Message: "more than 2 shifts: slow", IsWarning: true},
		{Name: "budget", Stage: "instance", Message: "no budget", IsWarning: true, Pointer: "/budget"},
	}, f.Details)
	require.Empty(t, s.calls, "the solver never ran")

	// Warnings only: the solve runs and the warnings are reported.
	res, err := run(t, context.Background(), app, &job.Context{Instance: json.RawMessage(`{"hours":[1,2,3]}`)})
	require.NoError(t, err)
	require.Len(t, s.calls, 1)
	require.Len(t, res.Checks, 2)
	for _, c := range res.Checks {
		require.True(t, c.IsWarning)
		require.Equal(t, solver.StageInstance, c.Stage)
	}

	// A check that cannot decode the instance reports it as a finding.
	_, err = run(t, context.Background(), app, &job.Context{Instance: json.RawMessage(`{"hours":"many"}`)})
	require.ErrorAs(t, err, &f)
	require.Contains(t, f.Details.([]job.CheckResult)[0].Message, "check did not run: instance does not decode")

	// On demand, as job.InstanceChecker.
	got, err := app.CheckInstance(context.Background(), json.RawMessage(`{"hours":[-1],"budget":3}`))
	require.NoError(t, err)
	require.Equal(t, []job.CheckResult{{Name: "no_negative_hours", Stage: "instance", Message: "negative hours"}}, got)
}

func TestSolutionChecksAndKPIs(t *testing.T) {
	solve := solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		return &job.Result{Solution: roster{Assigned: []int{0, 2}}, Status: job.StatusFeasible, Objective: job.Float(4)}, nil
	})
	overBudget := solver.SolutionCheck("within_budget", func(in shift, r roster) []string {
		total := 0.0
		for _, i := range r.Assigned {
			total += in.Hours[i]
		}
		if total > in.Budget {
			return []string{"over budget"}
		}
		return nil
	})
	panics := solver.Check{Name: "buggy", Func: func(context.Context, json.RawMessage, json.RawMessage) ([]job.CheckResult, error) {
		panic("boom")
	}}
	quiet := solver.SolutionCheck("all_assigned", func(in shift, r roster) []string { return nil })
	app := &solver.App{
		Name:           "roster",
		Solvers:        map[string]solver.Solver{"s": solve},
		SolutionChecks: []solver.Check{overBudget, panics.AsWarning(), quiet},
		KPIs: []solver.KPI{
			solver.KPIOf("hours", func(in shift, r roster) float64 {
				total := 0.0
				for _, i := range r.Assigned {
					total += in.Hours[i]
				}
				return total
			}),
			solver.KPIOf("shifts", func(_ shift, r roster) float64 { return float64(len(r.Assigned)) }),
			{Name: "broken", Func: func(context.Context, json.RawMessage, json.RawMessage) (float64, error) {
				return 0, errors.New("no data")
			}},
		},
	}
	res, err := run(t, context.Background(), app, &job.Context{Instance: json.RawMessage(`{"hours":[3,5,1],"budget":2}`)})
	require.NoError(t, err, "a failed solution check is reported, not fatal")
	require.Equal(t, job.StatusFeasible, res.Status)
	require.Equal(t, map[string]float64{"hours": 4, "shifts": 2}, res.KPIs)
	require.Len(t, res.Checks, 2)
	require.Equal(t, job.CheckResult{Name: "within_budget", Stage: "solution", Message: "over budget"}, res.Checks[0])
	require.Equal(t, "buggy", res.Checks[1].Name)
	require.True(t, res.Checks[1].IsWarning)
	require.Contains(t, res.Checks[1].Message, "panic: boom")
}

// waitForStop is a solver that improves an incumbent a few times and then
// waits for ctx, returning nothing of its own (the worst-behaved solver
// that still honours ctx).
func waitForStop(limit *time.Duration) solver.Solver {
	return solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		if limit != nil {
			*limit = in.TimeLimit
		}
		for i, obj := range []float64{30, 20, 12} {
			if err := in.Incumbent(map[string]int{"round": i}, obj); err != nil {
				return nil, err
			}
			in.Log.Progress(solver.ProgressRow{Node: int64(i), BestInteger: job.Float(obj), CutsBestBound: job.Float(10)})
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
}

func TestStopKeepsLastIncumbent(t *testing.T) {
	app := &solver.App{Name: "x", Solvers: map[string]solver.Solver{"s": waitForStop(nil)}}
	ctx, cancel := context.WithCancelCause(context.Background())
	// The stop comes 100 ms after the third incumbent: after an event, not
	// a timer that a loaded machine can outrun before the solver starts.
	rep := &incs{onInc: func(n int) {
		if n == 3 {
			time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("stopped by user")) })
		}
	}}
	jc := &job.Context{Reporter: rep}
	res, err := run(t, ctx, app, jc)
	require.NoError(t, err)
	require.Equal(t, []float64{30, 20, 12}, rep.objs)
	require.Equal(t, job.StatusFeasible, res.Status)
	require.JSONEq(t, `{"round":2}`, string(res.Solution.(json.RawMessage)))
	require.Equal(t, 12.0, *res.Objective)
	require.Equal(t, 10.0, *res.BestBound)
	require.InDelta(t, 2.0/12, *res.Gap, 1e-12)

	l := res.SolverLog
	require.EqualValues(t, solver.StatusCodeFeasible, l["status_code"])
	require.EqualValues(t, solver.SolCodeFeasible, l["sol_code"])
	require.Equal(t, "feasible", l["status"])
	require.EqualValues(t, 12, l["best_solution"])
	require.EqualValues(t, 10, l["best_bound"])
	require.EqualValues(t, 2, l["nodes"])
	require.Len(t, l["progress"], 3)
	require.EqualValues(t, 30, l["first_solution"].(map[string]any)["BestInteger"])
	require.Greater(t, l["time"].(float64), 0.05)
	require.EqualValues(t, 2, res.Stats["nodes"])
}

func TestConfigTimeLimit(t *testing.T) {
	var limit time.Duration
	app := &solver.App{Name: "x", Solvers: map[string]solver.Solver{"s": waitForStop(&limit)}}
	for _, cfg := range []string{`{"time_limit":0.3}`, `{"timeLimit":0.3}`} {
		start := time.Now()
		res, err := run(t, context.Background(), app, &job.Context{Config: json.RawMessage(cfg)})
		require.NoError(t, err)
		took := time.Since(start)
		// Bounds a loaded machine cannot break: the limit is what is left
		// of the 0.3 s, and the solve lasted at least that long.
		require.GreaterOrEqual(t, took, 300*time.Millisecond, cfg)
		require.True(t, limit > 0 && limit <= 300*time.Millisecond, "Input.TimeLimit %v", limit)
		require.Equal(t, job.StatusTimeLimit, res.Status, "the solver's own limit: the runtime stores this as succeeded")
		require.Equal(t, 12.0, *res.Objective)
		require.EqualValues(t, solver.StatusCodeTimeLimit, res.SolverLog["status_code"])
	}
}

func TestJobDeadline(t *testing.T) {
	var limit time.Duration
	app := &solver.App{Name: "x", Solvers: map[string]solver.Solver{"s": waitForStop(&limit)}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// A config limit longer than the deadline does not extend it.
	res, err := run(t, ctx, app, &job.Context{Config: json.RawMessage(`{"time_limit":60}`)})
	require.NoError(t, err)
	require.True(t, limit > 0 && limit <= 200*time.Millisecond, "Input.TimeLimit %v is what is left of the deadline", limit)
	require.Equal(t, job.StatusTimeLimit, res.Status)
	require.NotNil(t, res.Solution)
}

func TestResultDefaultsAndErrors(t *testing.T) {
	boom := errors.New("boom")
	for name, tc := range map[string]struct {
		solve  solver.SolverFunc
		status job.SolverStatus
		err    error
	}{
		"nothing": {func(context.Context, *solver.Input) (*job.Result, error) { return nil, nil }, job.StatusNotSolved, nil},
		"infeasible": {func(context.Context, *solver.Input) (*job.Result, error) {
			return &job.Result{Status: job.StatusInfeasible}, nil
		}, job.StatusInfeasible, nil},
		"own status kept": {func(context.Context, *solver.Input) (*job.Result, error) {
			return &job.Result{Solution: 1, Status: job.StatusFeasible}, nil
		}, job.StatusFeasible, nil},
		"error": {func(context.Context, *solver.Input) (*job.Result, error) { return nil, boom }, "", boom},
		"fail": {func(context.Context, *solver.Input) (*job.Result, error) {
			return nil, job.Fail("cannot", nil)
		}, "", &job.Failure{Message: "cannot"}},
		"ctx error without stop is an error": {func(context.Context, *solver.Input) (*job.Result, error) {
			return nil, context.Canceled
		}, "", context.Canceled},
	} {
		t.Run(name, func(t *testing.T) {
			app := &solver.App{Name: "x", Solvers: map[string]solver.Solver{"s": tc.solve}}
			res, err := run(t, context.Background(), app, &job.Context{})
			if tc.err != nil {
				require.Error(t, err)
				require.Equal(t, tc.err.Error(), err.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.status, res.Status)
			require.EqualValues(t, solver.StatusCode(tc.status), res.SolverLog["status_code"])
		})
	}
}

func TestSolverLogEntriesWin(t *testing.T) {
	solve := solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		in.Log.Update(func(l *solver.Log) { l.Version = "1.2"; l.Status = "done early" })
		return &job.Result{Solution: 1, SolverLog: map[string]any{"custom": true, "status": "mine"}}, nil
	})
	app := &solver.App{Name: "x", Solvers: map[string]solver.Solver{"s": solve}}
	res, err := run(t, context.Background(), app, &job.Context{})
	require.NoError(t, err)
	require.Equal(t, true, res.SolverLog["custom"])
	require.Equal(t, "mine", res.SolverLog["status"])
	require.Equal(t, "1.2", res.SolverLog["version"])
	require.Equal(t, "s", res.SolverLog["solver"])
}

func TestInputDecode(t *testing.T) {
	type inst struct {
		N int `json:"n" validate:"min=1"`
	}
	type cfg struct {
		Seed int `json:"seed"`
	}
	solve := solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		var i inst
		var c cfg
		if err := in.DecodeInstance(&i); err != nil {
			return nil, err
		}
		if err := in.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return &job.Result{Solution: i.N + c.Seed}, nil
	})
	app := &solver.App{Name: "x", Solvers: map[string]solver.Solver{"s": solve}}
	res, err := run(t, context.Background(), app, &job.Context{Instance: json.RawMessage(`{"n":2}`), Config: json.RawMessage(`{"solver":"s","seed":40}`)})
	require.NoError(t, err)
	require.Equal(t, 42, res.Solution)

	_, err = run(t, context.Background(), app, &job.Context{Instance: json.RawMessage(`{"n":0}`)})
	require.ErrorIs(t, err, job.ErrInvalid)
	var e *job.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "/n", e.Violations[0].Pointer)
}
