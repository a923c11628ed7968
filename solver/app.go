package solver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/solvekit/solvekit/job"
)

// Check stages, the job.CheckResult.Stage values the App sets.
const (
	StageInstance = "instance"
	StageSolution = "solution"
)

// App is a solver application, cornflow's model in Go: schemas, several
// named solvers, a default solver, instance checks, solution checks and
// KPIs. Register App.Definition() with solvekit like any job.
type App struct {
	// Name is the job type name, e.g. "knapsack".
	Name string
	// Description is shown with the job type.
	Description string
	// InstanceSchema, ConfigSchema and SolutionSchema are JSON Schemas
	// (optional). The config schema should allow "solver" and
	// "time_limit".
	InstanceSchema, ConfigSchema, SolutionSchema []byte
	// Solvers maps solver names to solvers; see the package doc for how the
	// config's "solver" field picks one.
	Solvers map[string]Solver
	// DefaultSolver runs when the config names none. Empty means the only
	// solver, or the first name in sorted order.
	DefaultSolver string
	// InstanceChecks run before the solve; a finding that is not a warning
	// fails the execution.
	InstanceChecks []Check
	// SolutionChecks run after the solve on the solution; findings are
	// reported in the result, never fail the execution.
	SolutionChecks []Check
	// KPIs are computed from the instance and solution after the solve.
	KPIs []KPI
	// Timeout bounds each execution (job.WithTimeout); zero leaves the
	// runtime's default.
	Timeout time.Duration
	// Queue is the asynq queue the executions go to; empty means "default".
	Queue string
}

// Check is a named rule about an instance (App.InstanceChecks) or a solution
// (App.SolutionChecks). Build one from typed functions with InstanceCheck
// and SolutionCheck, or set Func for full control.
type Check struct {
	// Name identifies the check; it names each finding whose Name is empty.
	Name string
	// Description says what the check verifies.
	Description string
	// Warning makes every finding of the check a warning (cornflow's
	// is_warning): reported, never blocking.
	Warning bool
	// Func inspects the data and returns its findings (none when the data
	// passes). solution is nil for instance checks. An error (or a panic)
	// is reported as a finding of the check.
	Func func(ctx context.Context, instance, solution json.RawMessage) ([]job.CheckResult, error)
}

// AsWarning returns a copy of c whose findings are warnings.
func (c Check) AsWarning() Check { c.Warning = true; return c }

// KPI is a named key performance indicator computed from an instance and
// its solution after the solve.
type KPI struct {
	// Name is the KPI's key in job.Result.KPIs.
	Name string
	// Description says what the KPI measures.
	Description string
	// Func computes the KPI; an error skips it (and is logged).
	Func func(ctx context.Context, instance, solution json.RawMessage) (float64, error)
}

// InstanceCheck builds an instance check from a function of the decoded
// instance returning one message per problem found (none when it passes).
func InstanceCheck[I any](name string, fn func(instance I) []string) Check {
	return Check{Name: name, Func: func(_ context.Context, instance, _ json.RawMessage) ([]job.CheckResult, error) {
		var in I
		if err := json.Unmarshal(orNull(instance), &in); err != nil {
			return nil, fmt.Errorf("instance does not decode: %w", err)
		}
		return findings(name, fn(in)), nil
	}}
}

// SolutionCheck builds a solution check from a function of the decoded
// instance and solution returning one message per problem found.
func SolutionCheck[I, S any](name string, fn func(instance I, solution S) []string) Check {
	return Check{Name: name, Func: func(_ context.Context, instance, solution json.RawMessage) ([]job.CheckResult, error) {
		var in I
		var sol S
		if err := json.Unmarshal(orNull(instance), &in); err != nil {
			return nil, fmt.Errorf("instance does not decode: %w", err)
		}
		if err := json.Unmarshal(orNull(solution), &sol); err != nil {
			return nil, fmt.Errorf("solution does not decode: %w", err)
		}
		return findings(name, fn(in, sol)), nil
	}}
}

// KPIOf builds a KPI from a function of the decoded instance and solution.
func KPIOf[I, S any](name string, fn func(instance I, solution S) float64) KPI {
	return KPI{Name: name, Func: func(_ context.Context, instance, solution json.RawMessage) (float64, error) {
		var in I
		var sol S
		if err := json.Unmarshal(orNull(instance), &in); err != nil {
			return 0, fmt.Errorf("instance does not decode: %w", err)
		}
		if err := json.Unmarshal(orNull(solution), &sol); err != nil {
			return 0, fmt.Errorf("solution does not decode: %w", err)
		}
		return fn(in, sol), nil
	}}
}

func findings(name string, msgs []string) []job.CheckResult {
	out := make([]job.CheckResult, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, job.CheckResult{Name: name, Message: m})
	}
	return out
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// SolverNames returns the names of the App's solvers, sorted.
func (a *App) SolverNames() []string {
	return slices.Sorted(maps.Keys(a.Solvers))
}

// defaultSolver returns DefaultSolver, or the only / first solver name.
func (a *App) defaultSolver() string {
	if a.DefaultSolver != "" {
		return a.DefaultSolver
	}
	if names := a.SolverNames(); len(names) > 0 {
		return names[0]
	}
	return ""
}

// Definition returns the App as an async job definition: name,
// description, schemas, solvers with the default, queue and timeout, with
// Extra set to the App (so the runtime finds it as a job.InstanceChecker).
// opts are applied after the App's own settings and may override them.
//
// An App that cannot run (no solvers, a nil solver, or a DefaultSolver that
// selects none of Solvers) yields a definition whose Err reports it, so the
// registry refuses it at registration instead of failing every execution.
func (a *App) Definition(opts ...job.Option) *job.Definition {
	base := []job.Option{
		job.WithError(a.validate()),
		job.WithDescription(a.Description),
		job.WithInstanceSchema(a.InstanceSchema),
		job.WithConfigSchema(a.ConfigSchema),
		job.WithSolutionSchema(a.SolutionSchema),
		job.WithSolvers(a.defaultSolver(), a.SolverNames()...),
	}
	if a.Queue != "" {
		base = append(base, job.WithQueue(a.Queue))
	}
	if a.Timeout > 0 {
		base = append(base, job.WithTimeout(a.Timeout))
	}
	d := job.Async(a.Name, a.run, append(base, opts...)...)
	d.Extra = a
	return d
}

// validate reports why the App cannot run, or nil.
func (a *App) validate() error {
	if len(a.Solvers) == 0 {
		return fmt.Errorf("solver: app %q has no solvers", a.Name)
	}
	for _, n := range a.SolverNames() {
		if a.Solvers[n] == nil {
			return fmt.Errorf("solver: app %q: solver %q is nil", a.Name, n)
		}
	}
	if a.DefaultSolver != "" {
		if _, _, _, err := a.Resolve(a.DefaultSolver); err != nil {
			return fmt.Errorf("solver: app %q: default solver %q is not one of %s",
				a.Name, a.DefaultSolver, strings.Join(a.SolverNames(), ", "))
		}
	}
	return nil
}

// Resolve returns the solver a requested name selects, with its App key and
// sub-solver: an exact key first, then "name.sub" as Solvers["name"] with
// sub-solver "sub"; an empty name selects the default solver. An unknown
// name is a job.Fail error listing the available solvers.
func (a *App) Resolve(requested string) (s Solver, name, sub string, err error) {
	if requested == "" {
		requested = a.defaultSolver()
	}
	if s, ok := a.Solvers[requested]; ok && s != nil {
		return s, requested, "", nil
	}
	if head, tail, ok := strings.Cut(requested, "."); ok {
		if s, ok := a.Solvers[head]; ok && s != nil {
			return s, head, tail, nil
		}
	}
	avail := a.SolverNames()
	if len(avail) == 0 {
		return nil, "", "", job.Fail(fmt.Sprintf("app %q has no solvers", a.Name), nil)
	}
	return nil, "", "", job.Fail(
		fmt.Sprintf("unknown solver %q; available: %s", requested, strings.Join(avail, ", ")),
		map[string]any{"solver": requested, "available": avail})
}

// CheckInstance runs the instance checks and returns their findings. It
// implements job.InstanceChecker; the error is only ctx's.
func (a *App) CheckInstance(ctx context.Context, instance json.RawMessage) ([]job.CheckResult, error) {
	out := runChecks(ctx, StageInstance, a.InstanceChecks, instance, nil)
	return out, ctx.Err()
}

// CheckSolution runs the solution checks on a solution of instance and
// returns their findings.
func (a *App) CheckSolution(ctx context.Context, instance, solution json.RawMessage) []job.CheckResult {
	return runChecks(ctx, StageSolution, a.SolutionChecks, instance, solution)
}

// ComputeKPIs computes the KPIs of a solution; KPIs whose Func fails are
// left out and their errors returned joined.
func (a *App) ComputeKPIs(ctx context.Context, instance, solution json.RawMessage) (map[string]float64, error) {
	if len(a.KPIs) == 0 {
		return nil, nil
	}
	out := make(map[string]float64, len(a.KPIs))
	var errs []error
	for _, k := range a.KPIs {
		if k.Func == nil {
			continue
		}
		v, err := safeKPI(ctx, k, instance, solution)
		if err != nil {
			errs = append(errs, fmt.Errorf("kpi %s: %w", k.Name, err))
			continue
		}
		out[k.Name] = v
	}
	return out, errors.Join(errs...)
}

func safeKPI(ctx context.Context, k KPI, instance, solution json.RawMessage) (v float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return k.Func(ctx, instance, solution)
}

func runChecks(ctx context.Context, stage string, checks []Check, instance, solution json.RawMessage) []job.CheckResult {
	var out []job.CheckResult
	for _, c := range checks {
		if c.Func == nil {
			continue
		}
		res, err := safeCheck(ctx, c, instance, solution)
		if err != nil {
			res = append(res, job.CheckResult{Name: c.Name, Message: "check did not run: " + err.Error()})
		}
		for _, r := range res {
			if r.Name == "" {
				r.Name = c.Name
			}
			r.Stage = stage
			r.IsWarning = r.IsWarning || c.Warning
			out = append(out, r)
		}
	}
	return out
}

func safeCheck(ctx context.Context, c Check, instance, solution json.RawMessage) (res []job.CheckResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return c.Func(ctx, instance, solution)
}

// hasErrors reports whether any finding is not a warning.
func hasErrors(checks []job.CheckResult) bool {
	for _, c := range checks {
		if !c.IsWarning {
			return true
		}
	}
	return false
}

// errTimeLimit is the cause of the deadline the App puts on the solver's
// context for the config's time_limit.
var errTimeLimit = errors.New("solver: time limit reached")

// run is the job.Func of the App's definition.
func (a *App) run(ctx context.Context, jc *job.Context) (any, error) {
	if jc == nil {
		jc = &job.Context{}
	}
	cfgSolver, limit := readConfig(jc.Config)
	requested := jc.Solver
	if requested == "" {
		requested = cfgSolver
	}
	s, name, sub, err := a.Resolve(requested)
	if err != nil {
		return nil, err
	}
	logger := jc.Log().With("solver", name)

	checks, err := a.CheckInstance(ctx, jc.Instance)
	if err != nil {
		return nil, err
	}
	if hasErrors(checks) {
		// The findings are the record's error violations (typed, with
		// pointers into the instance); details keeps every finding.
		v := &job.Error{Code: job.CodeInvalid, Message: "instance checks failed"}
		for _, c := range checks {
			if !c.IsWarning {
				v.Violations = append(v.Violations, job.Violation{Pointer: c.Pointer, Keyword: c.Name, Message: c.Message})
			}
		}
		return nil, &job.Failure{Message: v.Message, Details: checks, Err: v}
	}

	solveCtx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		solveCtx, cancel = context.WithTimeoutCause(ctx, limit, errTimeLimit)
		defer cancel()
	}
	in := &Input{
		Instance:  jc.Instance,
		Config:    jc.Config,
		Solver:    name,
		SubSolver: sub,
		Job:       jc,
		Log:       NewLog(name),
	}
	if sub != "" {
		in.Log.Solver = sub
	}
	if dl, ok := solveCtx.Deadline(); ok {
		in.TimeLimit = max(time.Until(dl), time.Millisecond)
	}
	start := time.Now()
	res, err := s.Solve(solveCtx, in)
	elapsed := time.Since(start)
	stopped := solveCtx.Err()
	if err != nil {
		if stopped == nil || !isContextErr(err, solveCtx) {
			return nil, err
		}
		// The solver gave up on ctx: keep whatever it published.
		logger.Info("solver returned on stop", "err", err)
		res = nil
	}
	if res == nil {
		res = &job.Result{}
	}

	hasSol := !isNil(res.Solution)
	if !hasSol && res.Status != job.StatusInfeasible && res.Status != job.StatusUnbounded {
		if inc, obj := jc.LastIncumbent(); inc != nil {
			res.Solution, hasSol = inc, true
			if res.Objective == nil {
				res.Objective = obj
			}
		}
	}
	if res.Status == "" {
		switch {
		case errors.Is(stopped, context.DeadlineExceeded):
			res.Status = job.StatusTimeLimit
		case stopped != nil && hasSol:
			res.Status = job.StatusFeasible
		case hasSol:
			res.Status = job.StatusOptimal
		default:
			res.Status = job.StatusNotSolved
		}
	}

	a.complete(ctx, jc, in, res, hasSol, checks, elapsed)
	return res, nil
}

// complete runs the solution checks and KPIs and fills the structured log.
func (a *App) complete(ctx context.Context, jc *job.Context, in *Input, res *job.Result, hasSol bool, checks []job.CheckResult, elapsed time.Duration) {
	post := context.WithoutCancel(ctx) // checks run even when the solve was stopped
	if hasSol && (len(a.SolutionChecks) > 0 || len(a.KPIs) > 0) {
		sol, err := toRaw(res.Solution)
		if err != nil {
			checks = append(checks, job.CheckResult{Name: "solution_encodes", Stage: StageSolution, Message: err.Error()})
		} else {
			checks = append(checks, a.CheckSolution(post, jc.Instance, sol)...)
			kpis, err := a.ComputeKPIs(post, jc.Instance, sol)
			if err != nil {
				jc.Log().Warn("KPIs failed", "err", err)
			}
			if len(kpis) > 0 {
				if res.KPIs == nil {
					res.KPIs = map[string]float64{}
				}
				for k, v := range kpis {
					res.KPIs[k] = v
				}
			}
		}
	}
	res.Checks = append(checks, res.Checks...)

	in.Log.Update(func(l *Log) {
		if res.BestBound == nil && l.BestBound != nil {
			res.BestBound = job.Float(*l.BestBound)
		}
		if res.Gap == nil {
			res.Gap = RelGap(res.Objective, res.BestBound)
		}
		if l.Status == "" {
			l.Status = string(res.Status)
		}
		l.StatusCode = StatusCode(res.Status)
		l.SolCode = SolCodeNone
		if hasSol {
			l.SolCode = SolCodeFeasible
		}
		if l.Time == 0 {
			l.Time = elapsed.Seconds()
		}
		if res.Objective != nil {
			l.BestSolution = job.Float(*res.Objective)
		}
		if res.BestBound != nil {
			l.BestBound = job.Float(*res.BestBound)
		}
		if res.Gap != nil {
			l.Gap = job.Float(*res.Gap)
		} else if g := RelGap(l.BestSolution, l.BestBound); g != nil {
			l.Gap = g
		}
		if l.Nodes > 0 {
			if res.Stats == nil {
				res.Stats = map[string]any{}
			}
			if _, ok := res.Stats["nodes"]; !ok {
				res.Stats["nodes"] = l.Nodes
			}
		}
	})
	m := in.Log.Map()
	for k, v := range res.SolverLog { // the solver's own entries win
		m[k] = v
	}
	res.SolverLog = m
}

// isContextErr reports whether err is the solver giving up on ctx.
func isContextErr(err error, ctx context.Context) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Cause(ctx))
}

// isNil reports whether a solution value is absent: nil, a nil pointer,
// map or slice, or an empty or null raw JSON.
func isNil(v any) bool {
	switch s := v.(type) {
	case nil:
		return true
	case json.RawMessage:
		return len(s) == 0 || string(s) == "null"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// toRaw encodes a solution for the checks.
func toRaw(v any) (json.RawMessage, error) {
	if r, ok := v.(json.RawMessage); ok {
		return r, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("solution does not encode: %w", err)
	}
	return b, nil
}
