package external_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver/external"
)

// fixedMPS is a model that only parses as fixed MPS: row and column names
// with spaces, and an RHS line with a blank set name (fields in columns
// 2-3, 5-12, 15-22, 25-36, 40-47, 50-61):
//
//	max 3x + 2y
//	s.t. x +  y <= 4    ("CAP A")
//	     x + 3y <= 6    ("CAP B")
//	     x <= 3,  x, y >= 0 integer
//
// By enumeration: (3,1) uses 4 and 6 and is worth 11; (2,1) is worth 8,
// (3,0) 9, (2,2) breaks CAP B (8 > 6), (4,0) the bound. The optimum is 11
// at x = 3, y = 1. glpsol (like CBC) drops the spaces from the names.
const fixedMPS = `NAME          FIXED TWO
OBJSENSE
    MAX
ROWS
 N  PROFIT
 L  CAP A
 L  CAP B
COLUMNS
    MARKER    'MARKER'                 'INTORG'
    X ONE     PROFIT    3              CAP A     1
    X ONE     CAP B     1
    Y TWO     PROFIT    2              CAP A     1
    Y TWO     CAP B     3
    MARKER    'MARKER'                 'INTEND'
RHS
              CAP A     4              CAP B     6
BOUNDS
 UP BND       X ONE     3
ENDATA
`

// TestGLPKReadsFixedMPS: glpsol cannot read fixedMPS as free MPS; the
// solver reads it again as fixed MPS and solves it to the hand optimum,
// as CBC (which reads both forms itself) does.
func TestGLPKReadsFixedMPS(t *testing.T) {
	for _, engine := range []string{"glpk", "mip.glpk", "cbc"} {
		t.Run(engine, func(t *testing.T) {
			needEngine(t, engine)
			h := newHarness(t, external.Model{Format: "mps", Model: fixedMPS}, `{"solver":"`+engine+`"}`)
			res, err := h.run(t, context.Background())
			require.NoError(t, err)
			require.Equal(t, job.StatusOptimal, res.Status)
			require.InDelta(t, 11, *res.Objective, 1e-9)
			require.Equal(t, map[string]float64{"XONE": 3, "YTWO": 1}, solution(t, res).Variables)
			if engine != "cbc" {
				_, ok := h.log.first("reading it as fixed MPS")
				require.True(t, ok, "the fallback is logged")
			}
		})
	}
}

// TestGLPKFreeMPSReadOnce: a free MPS model is read once, as free MPS.
func TestGLPKFreeMPSReadOnce(t *testing.T) {
	needGLPK(t)
	h := newHarness(t, external.Model{Format: "mps", Model: tinyMPS}, `{"solver":"glpk"}`)
	res, err := h.run(t, context.Background())
	require.NoError(t, err)
	require.Equal(t, job.StatusOptimal, res.Status)
	starts := 0
	for _, r := range h.log.all() {
		if r.msg == "starting solver" {
			starts++
			require.Contains(t, r.attrs["cmd"], " --freemps ")
		}
	}
	require.Equal(t, 1, starts)
	_, ok := h.log.first("reading it as fixed MPS")
	require.False(t, ok)
}

// TestGLPKUnreadableMPS: a model that is neither free nor fixed MPS fails
// (not retried) with glpsol's output of both attempts.
func TestGLPKUnreadableMPS(t *testing.T) {
	needGLPK(t)
	h := newHarness(t, external.Model{Format: "mps", Model: "NAME BAD\nROWS\n N obj\nCOLUMNS\n    x obj one two three\nENDATA\n"}, `{"solver":"glpk"}`)
	_, err := h.run(t, context.Background())
	var f *job.Failure
	require.ErrorAs(t, err, &f)
	require.Contains(t, f.Message, "neither as free nor as fixed MPS")
	d, ok := f.Details.(map[string]any)
	require.True(t, ok, "%#v", f.Details)
	for _, k := range []string{"output", "free_mps_output"} {
		out, ok := d[k].([]string)
		require.True(t, ok, "%s: %#v", k, d[k])
		require.Contains(t, strings.Join(out, "\n"), "MPS file processing error", k)
	}
}

// TestGLPKSubSecondTimeLimit: glpsol takes whole seconds (--tmlim), so a
// time limit under a second cannot be passed on: glpsol is stopped at the
// deadline (SIGINT) instead of running to a rounded-up second. It ends
// with status time_limit, keeping only what its log said (no variables).
func TestGLPKSubSecondTimeLimit(t *testing.T) {
	needGLPK(t)
	k := newMKP(200, 15, 7) // minutes of work for glpsol
	h := newHarness(t, external.Model{Format: "mps", Model: k.MPS()}, `{"solver":"glpk","time_limit":0.3}`)
	res, err := h.run(t, context.Background())
	require.NoError(t, err)
	require.Equal(t, job.StatusTimeLimit, res.Status)

	rec, ok := h.log.first("starting solver")
	require.True(t, ok)
	require.Contains(t, rec.attrs["cmd"], "--tmlim 1 ", "a whole second bounds only a glpsol whose worker died")
	rec, ok = h.log.first("stopping solver")
	require.True(t, ok, "glpsol was left to run to its own whole-second limit")
	require.Equal(t, "SIGINT", rec.attrs["signal"])
	require.Contains(t, rec.attrs["reason"], "time limit")
	_, ok = h.log.first("TIME LIMIT EXCEEDED")
	require.False(t, ok, "glpsol reached its own --tmlim: the sub-second limit was not honoured")

	if incs := h.rep.all(); len(incs) > 0 {
		require.NotNil(t, res.Objective)
		require.InDelta(t, incs[len(incs)-1].objective, *res.Objective, 1e-6)
		require.Nil(t, solution(t, res).Variables)
	} else {
		require.Nil(t, res.Solution)
	}
}
