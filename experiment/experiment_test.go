package experiment_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/experiment"
)

func f(v float64) *float64 { return &v }

// row is a finished cell of problem (instance, rep 0).
func row(inst int, variant, state, status string, time float64, obj *float64) experiment.Row {
	return experiment.Row{Instance: inst, Variant: variant, State: state, SolverStatus: status, Time: f(time), Objective: obj}
}

// handRows: three problems, variants A and B.
//
//	p0: A 1 s, B 2 s    → ratios A 1, B 2
//	p1: A 4 s, B 1 s    → ratios A 4, B 1
//	p2: A 3 s, B not solved (time_limit) → ratios A 1, B ∞
func handRows() []experiment.Row {
	return []experiment.Row{
		row(0, "A", "succeeded", "optimal", 1, f(10)),
		row(0, "B", "succeeded", "optimal", 2, f(10)),
		row(1, "A", "succeeded", "optimal", 4, f(7)),
		row(1, "B", "succeeded", "optimal", 1, f(7)),
		row(2, "A", "succeeded", "optimal", 3, f(5)),
		row(2, "B", "succeeded", "time_limit", 5, f(6)),
	}
}

func TestProfileHandComputed(t *testing.T) {
	curves := experiment.Profile(handRows(), []string{"A", "B"})
	require.Len(t, curves, 2)
	a, b := curves[0], curves[1]
	require.Equal(t, 3, a.Problems)
	require.Equal(t, []experiment.ProfilePoint{{Tau: 1, Fraction: 2.0 / 3}, {Tau: 4, Fraction: 1}}, a.Points)
	require.Equal(t, []experiment.ProfilePoint{{Tau: 1, Fraction: 1.0 / 3}, {Tau: 2, Fraction: 2.0 / 3}}, b.Points)
	for _, c := range []struct{ tau, a, b float64 }{
		{0.5, 0, 0}, {1, 2.0 / 3, 1.0 / 3}, {1.5, 2.0 / 3, 1.0 / 3}, {2, 2.0 / 3, 2.0 / 3}, {3.9, 2.0 / 3, 2.0 / 3}, {4, 1, 2.0 / 3}, {100, 1, 2.0 / 3},
	} {
		require.InDelta(t, c.a, a.At(c.tau), 1e-12, "A at %g", c.tau)
		require.InDelta(t, c.b, b.At(c.tau), 1e-12, "B at %g", c.tau)
	}
	// Times under a millisecond count as one: no division by zero.
	z := experiment.Profile([]experiment.Row{row(0, "A", "succeeded", "", 0, nil), row(0, "B", "succeeded", "", 0.002, nil)}, []string{"A", "B"})
	require.Equal(t, []experiment.ProfilePoint{{Tau: 1, Fraction: 1}}, z[0].Points)
	require.Equal(t, []experiment.ProfilePoint{{Tau: 2, Fraction: 1}}, z[1].Points)
}

func TestSummarizeHandComputed(t *testing.T) {
	ag := experiment.Summarize(handRows(), []string{"A", "B"}, experiment.Minimize, 10)
	a, b := ag[0], ag[1]
	require.Equal(t, 3, a.Solved)
	require.Equal(t, 2, b.Solved)
	// B's unsolved cell counts the 10 s limit.
	require.InDelta(t, math.Exp((math.Log(11)+math.Log(14)+math.Log(13))/3)-10, *a.SGMTime, 1e-9)
	require.InDelta(t, math.Exp((math.Log(12)+math.Log(11)+math.Log(20))/3)-10, *b.SGMTime, 1e-9)
	// Wins: p0 tie on objective, A faster; p1 tie, B faster; p2 A better.
	require.Equal(t, 2, a.Wins)
	require.Equal(t, 1, b.Wins)
	require.InDelta(t, 22.0/3, *a.MeanObjective, 1e-12)
	require.Nil(t, a.MeanGap)
}

func TestShiftedGeoMeanAndPrimalIntegral(t *testing.T) {
	require.InDelta(t, 0, experiment.ShiftedGeoMean([]float64{0, 0}, 10), 1e-12)
	require.InDelta(t, math.Sqrt(11*21)-10, experiment.ShiftedGeoMean([]float64{1, 11}, 10), 1e-12)
	require.True(t, math.IsNaN(experiment.ShiftedGeoMean(nil, 10)))

	require.Equal(t, 0.0, experiment.PrimalGap(5, 5))
	require.Equal(t, 1.0, experiment.PrimalGap(-1, 2))
	require.InDelta(t, 0.5, experiment.PrimalGap(10, 5), 1e-12)
	// Gap 1 on [0,1), 0.5 on [1,3), 0 on [3,4].
	pts := []experiment.Point{{T: 1, Objective: 10}, {T: 3, Objective: 5}}
	require.InDelta(t, 2.0, experiment.PrimalIntegral(pts, 5, 4), 1e-12)
	require.InDelta(t, 4.0, experiment.PrimalIntegral(nil, 5, 4), 1e-12)
}

func TestCompare(t *testing.T) {
	base := []experiment.Aggregate{{Variant: "A", Cells: 3, Solved: 3, SGMTime: f(10), MeanGap: f(0.1), KPIs: map[string]float64{"cost": 100}}}
	same := []experiment.Aggregate{{Variant: "A", Cells: 3, Solved: 3, SGMTime: f(10.4), MeanGap: f(0.1), KPIs: map[string]float64{"cost": 101}}}
	c := experiment.Compare(base, same, experiment.CompareOptions{KPIGoals: map[string]experiment.Sense{"cost": experiment.Minimize}})
	require.False(t, c.Worse, "%+v", c.Metrics)
	slower := []experiment.Aggregate{{Variant: "A", Cells: 3, Solved: 3, SGMTime: f(12), MeanGap: f(0.05)}}
	c = experiment.Compare(base, slower, experiment.CompareOptions{})
	require.True(t, c.Worse)
	verdicts := map[string]experiment.Verdict{}
	for _, m := range c.Metrics {
		verdicts[m.Metric] = m.Verdict
	}
	require.Equal(t, experiment.Worse, verdicts["sgm_time"])
	require.Equal(t, experiment.Better, verdicts["mean_gap"])
	require.Equal(t, experiment.Same, verdicts["solved_share"])
	// A looser tolerance forgives the 20 %.
	require.False(t, experiment.Compare(base, slower, experiment.CompareOptions{Relative: 0.25}).Worse)
}

func TestCSVAndSVG(t *testing.T) {
	rows := handRows()
	rows[0].KPIs = map[string]float64{"cost": 3}
	var buf bytes.Buffer
	require.NoError(t, experiment.WriteCSV(&buf, rows))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 7)
	require.True(t, strings.HasSuffix(lines[0], ",time,kpi:cost"), lines[0])
	require.Equal(t, "0,0,,A,0,,succeeded,optimal,10,,,,1,3", lines[1])
	svg := string(experiment.ProfileSVG(experiment.Profile(rows, []string{"A", "B"})))
	require.True(t, strings.HasPrefix(svg, "<svg"), svg)
	require.Contains(t, svg, "Performance profile")
	svg = string(experiment.PrimalGapSVG(rows, []string{"A", "B"}, experiment.Minimize, 0))
	require.Contains(t, svg, "primal gap")
	require.Equal(t, 2, strings.Count(svg, "stroke-width=\"2\""))
}

func TestExecutionID(t *testing.T) {
	const ns = "6ba7b810-9dad-11d1-80b4-00c04fd430c8" // RFC 9562's DNS namespace
	a := experiment.ExecutionID(ns, 0)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
	require.Equal(t, a, experiment.ExecutionID(ns, 0))
	require.NotEqual(t, a, experiment.ExecutionID(ns, 1))
}

func TestThin(t *testing.T) {
	pts := make([]experiment.Point, 10)
	for i := range pts {
		pts[i] = experiment.Point{T: float64(i), Objective: float64(100 - i)}
	}
	require.Equal(t, pts, experiment.Thin(pts, 10))
	got := experiment.Thin(pts, 4)
	require.Equal(t, []experiment.Point{pts[0], pts[3], pts[6], pts[9]}, got)
	// Thinning never lowers the primal integral.
	require.GreaterOrEqual(t, experiment.PrimalIntegral(got, 91, 12), experiment.PrimalIntegral(pts, 91, 12))
}
