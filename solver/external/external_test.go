//go:build unix

package external_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
	"github.com/solvekit/solvekit/solver/external"
)

// tinyMPS is a 0/1 knapsack with three knapsack rows, declared as a
// maximisation through an OBJSENSE section (which neither CBC nor GLPK
// reads itself):
//
//	max 5a + 4b + 3c
//	s.t. 2a + 3b +  c <=  5
//	     4a +  b + 2c <= 11
//	     3a + 4b + 2c <=  8,   a, b, c in {0, 1}
//
// By enumeration: (1,1,1) breaks row 1 (6 > 5); (1,1,0) uses 5, 5, 7 and
// is worth 9; (1,0,1) is worth 8, (0,1,1) 7, single items at most 5. The
// optimum is 9 with a = b = 1, c = 0.
const tinyMPS = `* tiny knapsack
NAME          TINY
OBJSENSE
    MAX
ROWS
 N  value
 L  c1
 L  c2
 L  c3
COLUMNS
    MARKER    'MARKER'  'INTORG'
    a         value     5   c1        2
    a         c2        4   c3        3
    b         value     4   c1        3
    b         c2        1   c3        4
    c         value     3   c1        1
    c         c2        2   c3        2
    MARKER    'MARKER'  'INTEND'
RHS
    rhs       c1        5   c2        11
    rhs       c3        8
BOUNDS
 BV bnd       a
 BV bnd       b
 BV bnd       c
ENDATA
`

// tinyLP is an integer covering problem in LP format:
//
//	min 3x + 2y
//	s.t. 2x + 2y >= 7     (so x + y >= 3.5, i.e. x + y >= 4 in integers)
//	      x + 3y >= 6,    x, y >= 0 integer
//
// y is the cheaper way to cover x + y >= 4: (0,4) costs 8 and meets
// x + 3y = 12 >= 6; (1,3) costs 9, (2,2) 10, (3,1) 11, and (4,0) breaks
// the second row. The optimum is 8 with x = 0, y = 4. (The LP relaxation
// is 7 at y = 3.5: integrality matters.)
const tinyLP = `\ tiny covering problem
Minimize
 cost: 3 x + 2 y
Subject To
 cover: 2 x + 2 y >= 7
 mix:   x + 3 y >= 6
General
 x y
End
`

// tinyLPRelaxed is tinyLP without integrality: optimum 7 at x = 0,
// y = 3.5 (cost 2 per unit of y, and 2y >= 7 binds; x costs 3 per unit
// for the same cover).
var tinyLPRelaxed = strings.Replace(tinyLP, "General\n x y\n", "", 1)

func TestSmallModelsSolveToHandOptimum(t *testing.T) {
	cases := []struct {
		name  string
		model external.Model
		obj   float64
		vars  map[string]float64
	}{
		{"mps-max-binary", external.Model{Format: "mps", Model: tinyMPS}, 9, map[string]float64{"a": 1, "b": 1}},
		{"lp-min-integer", external.Model{Format: "lp", Model: tinyLP}, 8, map[string]float64{"y": 4}},
		{"lp-min-continuous", external.Model{Format: "lp", Model: tinyLPRelaxed}, 7, map[string]float64{"y": 3.5}},
	}
	for _, engine := range []string{"cbc", "glpk", "mip.cbc", "mip.glpk"} {
		for _, tc := range cases {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				needEngine(t, engine)
				h := newHarness(t, tc.model, `{"solver":"`+engine+`"}`)
				res, err := h.run(t, context.Background())
				require.NoError(t, err)
				require.Equal(t, job.StatusOptimal, res.Status)
				require.NotNil(t, res.Objective)
				require.InDelta(t, tc.obj, *res.Objective, 1e-6)
				sol := solution(t, res)
				require.Equal(t, job.StatusOptimal, sol.Status)
				require.Len(t, sol.Variables, len(tc.vars))
				for k, v := range tc.vars {
					require.InDelta(t, v, sol.Variables[k], 1e-6, k)
				}
				require.InDelta(t, tc.obj, res.KPIs["objective"], 1e-6)
				require.Equal(t, float64(len(tc.vars)), res.KPIs["nonzero_variables"])
				require.EqualValues(t, solver.StatusCodeOptimal, res.SolverLog["status_code"])
				require.EqualValues(t, solver.SolCodeFeasible, res.SolverLog["sol_code"])
				require.InDelta(t, tc.obj, res.SolverLog["best_solution"], 1e-6)
				wantEngine := strings.TrimPrefix(engine, "mip.")
				require.Equal(t, wantEngine, res.SolverLog["solver"])
				require.NotEmpty(t, res.SolverLog["version"])
				// The solver's text output is in the job log, tagged.
				out := 0
				for _, r := range h.log.all() {
					if r.attrs["stream"] == "stdout" {
						require.Equal(t, wantEngine, r.attrs["solver"])
						out++
					}
				}
				require.Greater(t, out, 3)
			})
		}
	}
}

func TestInfeasibleAndUnbounded(t *testing.T) {
	infeasible := "Minimize\n obj: x + y\nSubject To\n c1: x + y >= 5\n c2: x + y <= 3\nEnd\n"
	infeasibleInt := "Minimize\n obj: x\nSubject To\n c1: 2 x = 3\nBounds\n x <= 10\nGeneral\n x\nEnd\n"
	unbounded := "Maximize\n obj: x + y\nSubject To\n c1: x - y <= 3\nEnd\n"
	for _, engine := range []string{"cbc", "glpk"} {
		for _, tc := range []struct {
			name, model string
			want        job.SolverStatus
		}{
			{"infeasible-lp", infeasible, job.StatusInfeasible},
			{"infeasible-mip", infeasibleInt, job.StatusInfeasible},
			{"unbounded-lp", unbounded, job.StatusUnbounded},
		} {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				needEngine(t, engine)
				h := newHarness(t, external.Model{Format: "lp", Model: tc.model}, `{"solver":"`+engine+`"}`)
				res, err := h.run(t, context.Background())
				require.NoError(t, err)
				require.Equal(t, tc.want, res.Status)
				require.Nil(t, res.Solution)
				require.EqualValues(t, solver.SolCodeNone, res.SolverLog["sol_code"])
				require.EqualValues(t, solver.StatusCode(tc.want), res.SolverLog["status_code"])
			})
		}
	}
}

// TestCBCStopKeepsIncumbent stops CBC mid-solve on a knapsack it needs
// minutes for: CBC ends the search on SIGINT and writes its best solution,
// which comes back complete (variables included) and feasible.
func TestCBCStopKeepsIncumbent(t *testing.T) {
	needCBC(t)
	k := newMKP(200, 15, 7)
	h := newHarness(t, external.Model{Format: "mps", Model: k.MPS()}, `{"solver":"cbc"}`)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var stopAt time.Time
	h.rep.onInc = func(incumbent) {
		if stopAt.IsZero() {
			stopAt = time.Now().Add(time.Second)
			time.AfterFunc(time.Second, func() { cancel(errors.New("user stop")) })
		}
	}
	start := time.Now()
	res, err := h.run(t, ctx)
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("stopped after %v (stop requested %v after start)", took, stopAt.Sub(start))
	require.False(t, stopAt.IsZero(), "CBC published no incumbent")
	_, killed := h.log.first("killing its process group")
	require.False(t, killed, "CBC did not stop on SIGINT within the grace period")

	incs := h.rep.all()
	require.NotEmpty(t, incs)
	require.Equal(t, job.StatusFeasible, res.Status)
	sol := solution(t, res)
	require.Equal(t, job.StatusFeasible, sol.Status)
	require.NotEmpty(t, sol.Variables, "CBC writes its solution on SIGINT")
	profit := k.verify(t, sol.Variables)
	require.InDelta(t, profit, *res.Objective, 1e-6)
	// The stop keeps at least the best incumbent published.
	best := incs[0].objective
	for _, inc := range incs {
		best = max(best, inc.objective)
	}
	require.GreaterOrEqual(t, *res.Objective, best-1e-6)
	_, ok := h.log.first("stopping solver")
	require.True(t, ok)
	require.EqualValues(t, solver.StatusCodeFeasible, res.SolverLog["status_code"])
	require.NotNil(t, res.BestBound, "CBC reports its bound while searching")
	require.GreaterOrEqual(t, *res.BestBound, *res.Objective)
}

// TestCBCTimeLimitStreamsLog runs CBC with config time_limit 3 on the hard
// knapsack: it must stop by itself with status time_limit and a feasible
// solution, and its log lines and incumbents must reach the job while CBC
// still runs, not in a burst at exit.
func TestCBCTimeLimitStreamsLog(t *testing.T) {
	needCBC(t)
	k := newMKP(200, 15, 7)
	h := newHarness(t, external.Model{Format: "mps", Model: k.MPS()}, `{"solver":"cbc","time_limit":3}`)
	// Whether CBC still ran when its first solution line was logged and
	// when its first incumbent was published: events, not durations.
	var lineWhileRunning, incWhileRunning *bool
	h.log.onLine = func(r record) {
		if lineWhileRunning == nil && strings.Contains(r.msg, "Integer solution of") {
			running := childRunning("cbc")
			lineWhileRunning = &running
		}
	}
	h.rep.onInc = func(incumbent) {
		if incWhileRunning == nil {
			running := childRunning("cbc")
			incWhileRunning = &running
		}
	}
	// A bound only for a CBC that ignores its limit: it is then stopped,
	// which the "stopping solver" check below reports.
	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(time.Minute))
	defer cancel()
	start := time.Now()
	// CBC checks its limit now and then: on a loaded machine it may stop
	// well past it, which is still stopping by itself.
	res, err := h.run(t, ctx, external.WithSettle(patience.Scale(2*time.Second)))
	require.NoError(t, err)
	end := time.Now()
	t.Logf("time-limited solve took %v", end.Sub(start))
	require.GreaterOrEqual(t, end.Sub(start), 2*time.Second)
	_, stopped := h.log.first("stopping solver")
	require.False(t, stopped, "CBC did not stop at its own time limit")

	require.Equal(t, job.StatusTimeLimit, res.Status)
	sol := solution(t, res)
	require.Equal(t, job.StatusTimeLimit, sol.Status)
	require.InDelta(t, k.verify(t, sol.Variables), *res.Objective, 1e-6)
	require.EqualValues(t, solver.StatusCodeTimeLimit, res.SolverLog["status_code"])
	require.Contains(t, res.SolverLog["status"], "time limit")

	first, ok := h.log.first("Integer solution of")
	require.True(t, ok)
	require.Equal(t, "stdout", first.attrs["stream"])
	require.Equal(t, "cbc", first.attrs["solver"])
	t.Logf("first incumbent line logged %v after start, %v before the solve ended", first.at.Sub(start), end.Sub(first.at))
	require.NotNil(t, lineWhileRunning)
	require.True(t, *lineWhileRunning, "CBC's output was not streamed while it ran")
	require.NotEmpty(t, h.rep.all())
	require.NotNil(t, incWhileRunning)
	require.True(t, *incWhileRunning, "incumbents are published while CBC runs")
}

// TestGLPKDeadline gives GLPK a 3 s job deadline: it is told a shorter
// limit, stops on its own and returns its solution with status time_limit.
func TestGLPKDeadline(t *testing.T) {
	needGLPK(t)
	k := newMKP(200, 15, 7)
	h := newHarness(t, external.Model{Format: "mps", Model: k.MPS()}, `{"solver":"glpk"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	res, err := h.run(t, ctx)
	require.NoError(t, err)
	t.Logf("deadline solve took %v", time.Since(start))
	require.Equal(t, job.StatusTimeLimit, res.Status)
	sol := solution(t, res)
	require.NotEmpty(t, sol.Variables, "GLPK stops itself at --tmlim and writes its solution")
	require.InDelta(t, k.verify(t, sol.Variables), *res.Objective, 1e-6)
	require.NotEmpty(t, h.rep.all())
	require.Contains(t, res.SolverLog["status"], "TIME LIMIT")
}

// TestGLPKStopKeepsLogIncumbent stops GLPK, which dies on SIGINT without
// writing a solution: the best objective from its log is kept, and the
// App warns that the variables are unknown.
func TestGLPKStopKeepsLogIncumbent(t *testing.T) {
	needGLPK(t)
	k := newMKP(200, 15, 7)
	h := newHarness(t, external.Model{Format: "mps", Model: k.MPS()}, `{"solver":"glpk"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The stop comes half a second after GLPK's first incumbent (an event;
	// a fixed timer could fire before it on a loaded machine).
	var once sync.Once
	h.rep.onInc = func(incumbent) { once.Do(func() { time.AfterFunc(500*time.Millisecond, cancel) }) }
	res, err := h.run(t, ctx)
	require.NoError(t, err)
	require.Equal(t, job.StatusFeasible, res.Status)
	incs := h.rep.all()
	require.NotEmpty(t, incs)
	best := incs[len(incs)-1].objective
	require.InDelta(t, best, *res.Objective, 1e-6)
	sol := solution(t, res)
	require.Nil(t, sol.Variables)
	var warned bool
	for _, c := range res.Checks {
		if c.Name == "variables_known" {
			warned = c.IsWarning && c.Stage == solver.StageSolution
		}
	}
	require.True(t, warned, "checks: %+v", res.Checks)
}

// TestStubbornSolverIsKilled runs a fake solver that ignores SIGINT and
// leaves a child process: after the grace period the whole process group
// is killed, and the incumbent it logged is kept.
func TestStubbornSolverIsKilled(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "cbc")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
trap '' INT
sleep 300 &
echo "child $!"
echo "Cbc0012I Integer solution of -7 found by stub after 0 iterations and 0 nodes (0.00 seconds)"
wait
`), 0o755))
	h := newHarness(t, external.Model{Format: "mps", Model: tinyMPS}, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.rep.onInc = func(incumbent) { cancel() }
	start := time.Now()
	res, err := h.run(t, ctx, external.WithCBCBinary(script), external.WithGracePeriod(300*time.Millisecond))
	require.NoError(t, err)
	t.Logf("stubborn solver handled in %v", time.Since(start))
	require.Equal(t, job.StatusFeasible, res.Status)
	require.InDelta(t, 7, *res.Objective, 1e-9, "maximisation: CBC's -7 is 7")

	childLine, ok := h.log.first("child ")
	require.True(t, ok)
	pid, err := strconv.Atoi(strings.TrimPrefix(childLine.msg, "child "))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return processGone(pid) }, patience.Scale(2*time.Second), 20*time.Millisecond,
		"the solver's child %d survived", pid)
	_, ok = h.log.first("killing its process group")
	require.True(t, ok)
}

// processGone reports whether pid no longer runs (gone, or a zombie no
// one reaped yet).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// childRunning reports whether a child process of this test named name
// runs (a zombie, exited but not yet reaped, does not count).
func childRunning(name string) bool {
	me := strconv.Itoa(os.Getpid())
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:]) // state, ppid, ...
		if s[open+1:end] == name && len(f) > 1 && f[1] == me && f[0] != "Z" {
			return true
		}
	}
	return false
}

// TestDeadlineInterruptsSolver runs a fake CBC that ignores its time
// limit but, like CBC, writes its solution on SIGINT: past the job's
// deadline (and a settle second) it is interrupted, and its solution comes
// back with status time_limit.
func TestDeadlineInterruptsSolver(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "cbc")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
for a; do if [ "$prev" = solu ]; then sol=$a; fi; prev=$a; done
trap 'printf "Stopped on iterations - objective value 9.00000000\n      0 a   1   5\n      1 b   1   4\n" > "$sol"; exit 0' INT
echo "Cbc0012I Integer solution of -5 found by stub after 0 iterations and 0 nodes (0.00 seconds)"
while :; do sleep 0.05; done
`), 0o755))
	h := newHarness(t, external.Model{Format: "mps", Model: tinyMPS}, `{}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	res, err := h.run(t, ctx, external.WithCBCBinary(script))
	require.NoError(t, err)
	took := time.Since(start)
	require.Greater(t, took, 1900*time.Millisecond, "the solver gets a settle second past the deadline")
	require.Equal(t, job.StatusTimeLimit, res.Status)
	require.Equal(t, map[string]float64{"a": 1, "b": 1}, solution(t, res).Variables)
	require.InDelta(t, 9, *res.Objective, 1e-9)
	require.Len(t, h.rep.all(), 1)
	require.InDelta(t, 5, h.rep.all()[0].objective, 1e-9)
	rec, ok := h.log.first("stopping solver")
	require.True(t, ok)
	require.Equal(t, "SIGINT", rec.attrs["signal"])
}

func TestMissingBinaryNamesPackage(t *testing.T) {
	for _, tc := range []struct {
		config string
		opt    external.Option
		pkg    string
	}{
		{`{"solver":"cbc"}`, external.WithCBCBinary("/nonexistent/cbc"), "coinor-cbc"},
		{`{"solver":"glpk"}`, external.WithGLPKBinary("no-such-glpsol-binary"), "glpk-utils"},
	} {
		h := newHarness(t, external.Model{Format: "lp", Model: tinyLP}, tc.config)
		_, err := h.run(t, context.Background(), tc.opt)
		require.Error(t, err)
		require.Contains(t, err.Error(), tc.pkg)
	}
}

func TestBadInstancesFail(t *testing.T) {
	for name, inst := range map[string]any{
		"format":   map[string]string{"format": "xlsx", "model": "x"},
		"empty":    map[string]string{"format": "lp", "model": ""},
		"sections": external.Model{Format: "mps", Model: "NAME X\nENDATA\n"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, inst, `{}`)
			_, err := h.run(t, context.Background(), external.WithCBCBinary("/nonexistent/cbc"))
			var f *job.Failure
			require.ErrorAs(t, err, &f)
		})
	}
}

func TestUnknownSubSolver(t *testing.T) {
	h := newHarness(t, external.Model{Format: "lp", Model: tinyLP}, `{"solver":"mip.gurobi"}`)
	_, err := h.run(t, context.Background())
	var f *job.Failure
	require.ErrorAs(t, err, &f)
	require.Contains(t, f.Message, "mip.cbc")
}

// TestGarbageModelFails hands CBC and GLPK a model they cannot read: the
// execution fails (not retried) with the solver's output.
func TestGarbageModelFails(t *testing.T) {
	garbage := external.Model{Format: "lp", Model: "Minimize\n obj: x +\nSubject To\n c1: x >= \nEnd\n"}
	for _, engine := range []string{"cbc", "glpk"} {
		t.Run(engine, func(t *testing.T) {
			needEngine(t, engine)
			h := newHarness(t, garbage, `{"solver":"`+engine+`"}`)
			res, err := h.run(t, context.Background())
			if err == nil {
				require.Equal(t, job.StatusNotSolved, res.Status, "%+v", res)
				return
			}
			var f *job.Failure
			require.ErrorAs(t, err, &f)
			require.NotEmpty(t, f.Details)
		})
	}
}

func TestKeepWorkspace(t *testing.T) {
	needCBC(t)
	dir := t.TempDir()
	h := newHarness(t, external.Model{Format: "lp", Model: tinyLP}, `{}`)
	_, err := h.run(t, context.Background(), external.WithWorkDir(dir), external.WithKeepWorkspace(true))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	files, err := os.ReadDir(filepath.Join(dir, entries[0].Name()))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	require.Contains(t, names, "model.lp")
	require.Contains(t, names, "solution.txt")

	// Without the option the workspace is removed.
	h = newHarness(t, external.Model{Format: "lp", Model: tinyLP}, `{}`)
	_, err = h.run(t, context.Background(), external.WithWorkDir(dir))
	require.NoError(t, err)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

// TestChildRunning checks the helper the streaming test relies on.
func TestChildRunning(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	require.True(t, childRunning("sleep"))
	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return !childRunning("sleep") }, patience.Scale(2*time.Second), 10*time.Millisecond,
		"a killed child is a zombie until reaped: not running")
	_ = cmd.Wait()
	require.False(t, childRunning("sleep"))
}
