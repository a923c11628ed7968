package external

import (
	"context"
	"fmt"
	"strings"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// MIP returns a solver that fronts CBC and GLPK and picks one by the
// sub-solver: "cbc" (also the default when none is given) or "glpk". In an
// App registered as "mip" it serves the cornflow-style names "mip.cbc"
// and "mip.glpk".
func MIP(opts ...Option) solver.Solver {
	cbc, glpk := CBC(opts...), GLPK(opts...)
	return solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		switch in.SubSolver {
		case "", "cbc":
			return cbc.Solve(ctx, in)
		case "glpk":
			return glpk.Solve(ctx, in)
		}
		avail := []string{in.Solver + ".cbc", in.Solver + ".glpk"}
		return nil, job.Fail(fmt.Sprintf("unknown solver %q; available: %s", in.Solver+"."+in.SubSolver, strings.Join(avail, ", ")),
			map[string]any{"solver": in.Solver + "." + in.SubSolver, "available": avail})
	})
}

// MIPApp returns an App that solves MPS and LP models (Model instances)
// with CBC or GLPK, returning a Solution.
//
// Solver names: "cbc" (the default) and "glpk" name the engines directly;
// "mip" fronts both, so the cornflow-style "mip.cbc" and "mip.glpk" work
// too (bare "mip" is CBC). The config accepts "solver" and "time_limit"
// (seconds). The App checks that the model text looks like its format
// before solving, warns when a solution has no variable values (a stopped
// GLPK), and reports the KPIs "objective" and "nonzero_variables".
func MIPApp(name string, opts ...Option) *solver.App {
	return &solver.App{
		Name:           name,
		Description:    "Solves an MPS or LP model with CBC or GLPK.",
		InstanceSchema: []byte(modelSchema),
		ConfigSchema:   []byte(configSchema),
		SolutionSchema: []byte(solutionSchema),
		Solvers: map[string]solver.Solver{
			"cbc":  CBC(opts...),
			"glpk": GLPK(opts...),
			"mip":  MIP(opts...),
		},
		DefaultSolver:  "cbc",
		InstanceChecks: []solver.Check{solver.InstanceCheck("model_format", checkModelFormat)},
		SolutionChecks: []solver.Check{solver.SolutionCheck("variables_known", checkVariablesKnown).AsWarning()},
		KPIs: []solver.KPI{
			solver.KPIOf("objective", func(_ Model, s Solution) float64 {
				if s.Objective == nil {
					return 0
				}
				return *s.Objective
			}),
			solver.KPIOf("nonzero_variables", func(_ Model, s Solution) float64 { return float64(len(s.Variables)) }),
		},
	}
}

// checkModelFormat makes sure the text is in the declared format before a
// solver is started on it.
func checkModelFormat(m Model) []string {
	switch m.Format {
	case FormatMPS:
		var rows, cols bool
		for _, line := range strings.Split(m.Model, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || line[0] == ' ' || line[0] == '\t' {
				continue
			}
			switch strings.ToUpper(f[0]) {
			case "ROWS":
				rows = true
			case "COLUMNS":
				cols = true
			}
		}
		if !rows || !cols {
			return []string{"an MPS model needs ROWS and COLUMNS sections"}
		}
	case FormatLP:
		low := strings.ToLower(m.Model)
		if !strings.Contains(low, "min") && !strings.Contains(low, "max") {
			return []string{"an LP model starts with an objective section (Minimize or Maximize)"}
		}
	default:
		return []string{fmt.Sprintf("format %q is not mps or lp", m.Format)}
	}
	return nil
}

func checkVariablesKnown(_ Model, s Solution) []string {
	if s.Objective != nil && s.Variables == nil {
		return []string{"only the objective is known: the solver was stopped before it wrote its solution"}
	}
	return nil
}

const modelSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "MIP model",
  "type": "object",
  "required": ["format", "model"],
  "properties": {
    "format": {"enum": ["mps", "lp"], "description": "mps (free or fixed MPS) or lp (CPLEX LP)"},
    "model": {"type": "string", "minLength": 1, "description": "the model file's text"},
    "sense": {"enum": ["min", "max"], "description": "overrides the objective sense of the file"}
  },
  "additionalProperties": false
}`

const configSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "MIP config",
  "type": "object",
  "properties": {
    "solver": {"type": "string", "enum": ["cbc", "glpk", "mip", "mip.cbc", "mip.glpk"], "default": "cbc"},
    "time_limit": {"type": "number", "exclusiveMinimum": 0, "description": "seconds"}
  }
}`

const solutionSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "MIP solution",
  "type": "object",
  "required": ["status"],
  "properties": {
    "status": {"enum": ["optimal", "feasible", "infeasible", "unbounded", "time_limit", "not_solved"]},
    "objective": {"type": "number"},
    "variables": {"type": "object", "additionalProperties": {"type": "number"}}
  }
}`
