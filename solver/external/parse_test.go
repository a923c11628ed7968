package external

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

func TestPrepareSense(t *testing.T) {
	for name, tc := range map[string]struct {
		m         Model
		sense     string
		flag      bool
		stripped  bool
		keepsLine string
	}{
		"mps section":   {Model{Format: "mps", Model: "NAME X\nOBJSENSE\n    MAX\nROWS\n N obj\n"}, Maximize, true, true, "ROWS"},
		"mps one line":  {Model{Format: "mps", Model: "NAME X\nOBJSENSE MAXIMIZE\nROWS\n"}, Maximize, true, true, "ROWS"},
		"mps min":       {Model{Format: "mps", Model: "NAME X\nOBJSENSE\n\n  MIN\nROWS\n"}, Minimize, true, true, "ROWS"},
		"mps none":      {Model{Format: "mps", Model: "NAME X\r\nROWS\r\n N obj\r\n"}, Minimize, false, false, " N obj"},
		"mps override":  {Model{Format: "mps", Model: "NAME X\nROWS\n", Sense: "max"}, Maximize, true, false, "ROWS"},
		"lp max":        {Model{Format: "lp", Model: "\\ comment\n\nMaximize\n obj: x\nEnd\n"}, Maximize, false, false, "Maximize"},
		"lp maximum":    {Model{Format: "lp", Model: "MAXIMUM obj: x\nEnd\n"}, Maximize, false, false, "End"},
		"lp min":        {Model{Format: "lp", Model: "minimize\n obj: x\nEnd\n"}, Minimize, false, false, "minimize"},
		"lp override":   {Model{Format: "lp", Model: "Maximize\n obj: x\nEnd\n", Sense: "min"}, Minimize, true, false, "Maximize"},
		"lp same sense": {Model{Format: "lp", Model: "Maximize\n obj: x\nEnd\n", Sense: "max"}, Maximize, false, false, "Maximize"},
	} {
		t.Run(name, func(t *testing.T) {
			p := prepare(&tc.m)
			require.Equal(t, tc.sense, p.sense)
			require.Equal(t, tc.flag, p.flag)
			require.Equal(t, !tc.stripped, strings.Contains(p.text, "OBJSENSE") || !strings.Contains(tc.m.Model, "OBJSENSE"))
			require.NotContains(t, p.text, "\r")
			require.Contains(t, p.text, tc.keepsLine)
		})
	}
}

func TestDecodeModel(t *testing.T) {
	_, err := decodeModel(json.RawMessage(`{"format":"lp","model":"Minimize\n x\nEnd"}`))
	require.NoError(t, err)
	for _, bad := range []string{`{"format":"xls","model":"x"}`, `{"format":"lp"}`, `[]`, `{"format":"mps","model":"x","sense":"up"}`} {
		_, err := decodeModel(json.RawMessage(bad))
		var f *job.Failure
		require.ErrorAs(t, err, &f, bad)
	}
}

func TestCBCHeader(t *testing.T) {
	for h, want := range map[string]struct {
		status   job.SolverStatus
		feasible bool
		obj      float64
	}{
		"Optimal - objective value 11.00000000":                                                  {job.StatusOptimal, true, 11},
		"Optimal (within gap tolerance) - objective value 10.5":                                  {job.StatusOptimal, true, 10.5},
		"Infeasible - objective value 5.00000000":                                                {job.StatusInfeasible, false, 0},
		"Integer infeasible - objective value 1.50000000":                                        {job.StatusInfeasible, false, 0},
		"Unbounded - objective value 0.00000000":                                                 {job.StatusUnbounded, false, 0},
		"Stopped on time - objective value 86064.00000000":                                       {job.StatusTimeLimit, true, 86064},
		"Stopped on time (no integer solution - continuous used) - objective value 86641.633":    {job.StatusTimeLimit, false, 0},
		"Stopped on iterations - objective value 65360.00000000":                                 {job.StatusFeasible, true, 65360},
		"Stopped on ctrl-c - objective value 12":                                                 {job.StatusFeasible, true, 12},
		"Stopped on iterations (no integer solution - continuous used) - objective value 1.0000": {job.StatusFeasible, false, 0},
		"Status unknown - objective value 0":                                                     {job.StatusNotSolved, false, 0},
	} {
		s := parseCBCHeader(h)
		require.Equal(t, want.status, s.status, h)
		require.Equal(t, want.feasible, s.feasible, h)
		if want.feasible {
			require.InDelta(t, want.obj, *s.objective, 1e-9, h)
		} else {
			require.Nil(t, s.objective, h)
		}
	}
}

func TestGLPKSolutionFile(t *testing.T) {
	names := map[int]string{1: "x", 2: "long_variable_name_beyond_twelve_chars"}
	mip := "c Problem:\nc Status:     INTEGER OPTIMAL\nc\ns mip 2 2 o 11\ni 1 4\ni 2 6\nj 1 3\nj 2 1\ne o f\n"
	s, err := parseGLPKSolution(mip, names)
	require.NoError(t, err)
	require.Equal(t, job.StatusOptimal, s.status)
	require.Equal(t, 11.0, *s.objective)
	require.Equal(t, map[string]float64{"x": 3, "long_variable_name_beyond_twelve_chars": 1}, s.variables)

	bas := "s bas 2 2 f f 7\ni 1 b 7 0\nj 1 l 0 1\nj 2 b 3.5 0\ne o f\n"
	s, err = parseGLPKSolution(bas, names)
	require.NoError(t, err)
	require.Equal(t, job.StatusOptimal, s.status)
	require.Equal(t, map[string]float64{"long_variable_name_beyond_twelve_chars": 3.5}, s.variables)

	for text, want := range map[string]job.SolverStatus{
		"s mip 1 1 n 0\ne o f\n":      job.StatusInfeasible,
		"s mip 1 1 f 5\nj 1 5\n":      job.StatusFeasible,
		"s bas 2 2 u u 0\ne o f\n":    job.StatusNotSolved,
		"s bas 2 2 n f 0\ne o f\n":    job.StatusInfeasible,
		"s bas 1 2 f n 0\ne o f\n":    job.StatusUnbounded,
		"s ipt 1 2 o 4\nj 1 4 0\n":    job.StatusOptimal,
		"s ipt 1 2 n 4\ne o f\n":      job.StatusInfeasible,
		"s mip 1 2 u 0\nj 1 9\ne o f": job.StatusNotSolved,
	} {
		s, err := parseGLPKSolution(text, names)
		require.NoError(t, err, text)
		require.Equal(t, want, s.status, text)
	}
	_, err = parseGLPKSolution("e o f\n", names)
	require.Error(t, err)
}

// incRecorder records incumbents published through a job Context.
type incRecorder struct{ objs []float64 }

func (r *incRecorder) Progress(float64, string) {}
func (r *incRecorder) Incumbent(_ json.RawMessage, obj *float64) error {
	r.objs = append(r.objs, *obj)
	return nil
}

// mkpSearch is what the logs of the two solvers' runs on the same
// multidimensional knapsack (10 rows, 150 columns, 1,500 non-zeros) say.
type mkpSearch struct {
	version              string
	relaxed, bound, best float64
	nodes                int
}

// requireMKPSearch checks the structured log l a tracker filled.
func requireMKPSearch(t *testing.T, l *solver.Log, want mkpSearch) {
	t.Helper()
	require.Equal(t, want.version, l.Version)
	require.Equal(t, &solver.Matrix{Constraints: 10, Variables: 150, Nonzeros: 1500}, l.Matrix)
	require.InDelta(t, want.relaxed, *l.FirstRelaxed, 1e-9)
	require.EqualValues(t, want.nodes, l.Nodes)
	require.InDelta(t, want.bound, *l.BestBound, 1e-9)
	require.InDelta(t, want.best, *l.BestSolution, 1e-9)
}

func newTestTracker(sense string) (*tracker, *incRecorder) {
	rec := &incRecorder{}
	in := &solver.Input{Job: &job.Context{Reporter: rec}, Log: solver.NewLog("test")}
	return newTracker(in, sense, slog.New(slog.DiscardHandler)), rec
}

func TestCBCLogMaximisation(t *testing.T) {
	tr, rec := newTestTracker(Maximize)
	for _, line := range strings.Split(`Version: 2.10.8 
Problem MKP has 10 rows, 150 columns and 1500 elements
Continuous objective value is 65785.6 - 0.00 seconds
Cbc0012I Integer solution of -65341 found by feasibility pump after 0 iterations and 0 nodes (0.06 seconds)
Cbc0010I After 0 nodes, 1 on tree, -65341 best solution, best possible -65752.055 (0.22 seconds)
Cbc0012I Integer solution of -65341 found by Previous solution after 0 iterations and 0 nodes (0.07 seconds)
Cbc0016I Integer solution of -65360 found by strong branching after 4835 iterations and 510 nodes (1.40 seconds)
Cbc0010I After 1000 nodes, 441 on tree, -65360 best solution, best possible -65752.055 (5.11 seconds)
Cbc0005I Partial search - best objective -65360 (best possible -65752.055), took 1081695 iterations and 168028 nodes (6.00 seconds)
Result - User ctrl-cuser ctrl-c
Objective value:                65360.00000000
Upper bound:                    65752.055
Enumerated nodes:               168028
Time (Wallclock seconds):       6.05`, "\n") {
		parseCBCLine(tr, line)
	}
	require.Equal(t, []float64{65341, 65360}, rec.objs, "duplicates dropped, sign flipped")
	l := tr.in.Log
	requireMKPSearch(t, l, mkpSearch{version: "2.10.8", relaxed: 65785.6, nodes: 168028, bound: 65752.055, best: 65360})
	require.InDelta(t, 6.05, l.Time, 1e-9)
	require.Equal(t, "User ctrl-cuser ctrl-c", l.Status)
	require.EqualValues(t, 0, l.FirstSolution.Node)
	require.InDelta(t, 65341, *l.FirstSolution.BestInteger, 1e-9)
	require.Len(t, l.ProgressTable, 4) // two node reports, two improving solutions
	require.InDelta(t, 65752.055, *l.ProgressTable[1].CutsBestBound, 1e-9)
	require.False(t, tr.timeLimit)

	parseCBCLine(tr, "Result - Stopped on time limit")
	require.True(t, tr.timeLimit)
}

func TestCBCLogMinimisationNoSolutionYet(t *testing.T) {
	tr, rec := newTestTracker(Minimize)
	parseCBCLine(tr, "Cbc0010I After 100 nodes, 7 on tree, 1e+50 best solution, best possible 12.5 (0.50 seconds)")
	parseCBCLine(tr, "Cbc0004I Integer solution of 14 found after 345 iterations and 120 nodes (0.61 seconds)")
	parseCBCLine(tr, "Cbc0001I Search completed - best objective 13, took 999 iterations and 150 nodes (0.90 seconds)")
	require.Equal(t, []float64{14}, rec.objs)
	l := tr.in.Log
	require.Nil(t, l.ProgressTable[0].BestInteger, "1e+50 means none")
	require.InDelta(t, 12.5, *l.ProgressTable[0].CutsBestBound, 1e-9)
	require.EqualValues(t, 150, l.Nodes)
}

func TestGLPKLog(t *testing.T) {
	tr, rec := newTestTracker(Maximize)
	for _, line := range strings.Split(`GLPSOL--GLPK LP/MIP Solver 5.0
10 rows, 150 columns, 1500 non-zeros
*     0: obj =  -0.000000000e+00 inf =   0.000e+00 (150)
*    12: obj =   6.578559200e+04 inf =   0.000e+00 (0)
OPTIMAL LP SOLUTION FOUND
+   176: mip =     not found yet <=              +inf        (1; 0)
Solution found by heuristic: 65294
Solution found by heuristic: 65307
+   300: >>>>>   6.532000000e+04 <=   6.567000000e+04   0.5% (10; 4)
+ 56971: mip =   6.544500000e+04 <=   6.567000000e+04   0.3% (11635; 3898)
TIME LIMIT EXCEEDED; SEARCH TERMINATED
Time used:   3.0 secs`, "\n") {
		parseGLPKLine(tr, line)
	}
	require.Equal(t, []float64{65294, 65307, 65320}, rec.objs)
	l := tr.in.Log
	requireMKPSearch(t, l, mkpSearch{version: "5.0", relaxed: 65785.592, nodes: 3898, bound: 65670, best: 65445})
	require.InDelta(t, 0.003, *l.ProgressTable[len(l.ProgressTable)-1].Gap, 1e-12)
	require.Nil(t, l.ProgressTable[0].BestInteger, "not found yet")
	require.Nil(t, l.ProgressTable[0].CutsBestBound, "+inf")
	require.Equal(t, "TIME LIMIT EXCEEDED; SEARCH TERMINATED", l.Status)
	require.True(t, tr.timeLimit)
	require.InDelta(t, 3.0, l.Time, 1e-9)

	tr, _ = newTestTracker(Minimize)
	parseGLPKLine(tr, "LP HAS UNBOUNDED PRIMAL SOLUTION")
	require.Equal(t, job.StatusUnbounded, tr.hintStatus())
	tr, _ = newTestTracker(Minimize)
	parseGLPKLine(tr, "PROBLEM HAS NO PRIMAL FEASIBLE SOLUTION")
	require.Equal(t, job.StatusInfeasible, tr.hintStatus())
}

func TestGLPKArgsTimeLimit(t *testing.T) {
	r := &runSpec{modelPath: "m.mps", solPath: "s", namesPath: "n", model: prepared{format: "mps", sense: Maximize, flag: true}}
	require.Equal(t, []string{"--freemps", "m.mps", "--max", "-w", "s", "--wglp", "n"}, glpkArgs(r))
	r.limit = 400e6 // 0.4 s: glpsol takes whole seconds, at least 1
	require.Contains(t, strings.Join(glpkArgs(r), " "), "--tmlim 1 ")
	r.limit = 2700e6 // rounded down: glpsol must stop before the deadline
	require.Contains(t, strings.Join(glpkArgs(r), " "), "--tmlim 2 ")
	r.model.format = "lp"
	r.extra = []string{"--mipgap", "0.01"}
	require.Equal(t, []string{"--lp", "m.mps", "--max", "--tmlim", "2", "--mipgap", "0.01", "-w", "s", "--wglp", "n"}, glpkArgs(r))

	c := &runSpec{modelPath: "m.lp", solPath: "s", model: prepared{format: "lp", sense: Maximize}, limit: 2500e6}
	require.Equal(t, []string{"m.lp", "timeMode", "elapsed", "seconds", "2.500", "solve", "solu", "s"}, cbcArgs(c))
}
