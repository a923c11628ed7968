package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// berlin52 reads TSPLIB's berlin52 (testdata: the public TSPLIB instance and
// its optimal tour, whose published length is 7542).
func berlin52(t *testing.T) (Instance, []int) {
	t.Helper()
	f, err := os.Open("testdata/berlin52.tsp")
	require.NoError(t, err)
	defer f.Close()
	in, err := parseTSPLIB(f)
	require.NoError(t, err)
	g, err := os.Open("testdata/berlin52.opt.tour")
	require.NoError(t, err)
	defer g.Close()
	tour, err := parseTour(g)
	require.NoError(t, err)
	require.Len(t, in.Points, 52)
	require.Equal(t, "EUC_2D", in.EdgeWeightType)
	require.Equal(t, [2]float64{565, 575}, in.Points[0])
	require.Equal(t, [2]float64{1740, 245}, in.Points[51])
	require.Len(t, tour, 52)
	return in, tour
}

func mustRaw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestBerlin52OptimalTour: under TSPLIB's EUC_2D the optimal tour of
// berlin52 has its published length 7542 (unrounded distances give
// 7544.37); the solution check recomputes the length and the KPI is the
// recomputed length, not the reported one.
func TestBerlin52OptimalTour(t *testing.T) {
	in, tour := berlin52(t)
	l, err := tourLength(in, tour)
	require.NoError(t, err)
	require.Equal(t, 7542.0, l)

	app := tspApp()
	ctx := context.Background()
	inst := mustRaw(t, in)
	good := mustRaw(t, Tour{Tour: tour, Length: 7542})
	require.Empty(t, app.CheckSolution(ctx, inst, good))
	kpis, err := app.ComputeKPIs(ctx, inst, good)
	require.NoError(t, err)
	require.Equal(t, 7542.0, kpis["length"])

	// The unrounded length is reported: the check says so, the KPI stays
	// the tour's true length.
	wrong := mustRaw(t, Tour{Tour: tour, Length: 7544.37})
	checks := app.CheckSolution(ctx, inst, wrong)
	require.Len(t, checks, 1)
	require.Equal(t, "length_matches_tour", checks[0].Name)
	require.False(t, checks[0].IsWarning)
	require.Contains(t, checks[0].Message, "7542")
	kpis, err = app.ComputeKPIs(ctx, inst, wrong)
	require.NoError(t, err)
	require.Equal(t, 7542.0, kpis["length"])

	// Without edge_weight_type an instance is EUC_2D; EXACT_2D keeps the
	// unrounded distances.
	in.EdgeWeightType = ""
	l, err = tourLength(in, tour)
	require.NoError(t, err)
	require.Equal(t, 7542.0, l)
	in.EdgeWeightType = "EXACT_2D"
	l, err = tourLength(in, tour)
	require.NoError(t, err)
	require.InDelta(t, 7544.3659, l, 1e-3)
}

// TestEdgeWeightTypes: each supported TSPLIB distance on pairs computed by
// hand.
func TestEdgeWeightTypes(t *testing.T) {
	o := [2]float64{0, 0}
	cases := []struct {
		typ  string
		b    [2]float64
		want float64
	}{
		{"EUC_2D", [2]float64{3, 4}, 5},
		{"EUC_2D", [2]float64{1, 1}, 1},   // 1.414
		{"EUC_2D", [2]float64{2, 3}, 4},   // 3.606
		{"EUC_2D", [2]float64{0.5, 0}, 1}, // nint rounds .5 up
		{"CEIL_2D", [2]float64{1, 1}, 2},
		{"CEIL_2D", [2]float64{3, 4}, 5},
		{"ATT", [2]float64{30, 40}, 16}, // sqrt(250) = 15.81, nint 16
		{"ATT", [2]float64{10, 0}, 4},   // sqrt(10) = 3.16, nint 3 < 3.16
		{"MAN_2D", [2]float64{1.2, 2.4}, 4},
		{"MAX_2D", [2]float64{1.4, 2.6}, 3},
		{"EXACT_2D", [2]float64{1, 1}, math.Sqrt2},
	}
	for _, c := range cases {
		require.InDelta(t, c.want, metrics[c.typ](o, c.b), 1e-12, "%s to %v", c.typ, c.b)
		require.InDelta(t, c.want, metrics[c.typ](c.b, o), 1e-12, "%s from %v", c.typ, c.b)
	}
	// A 4-point tour by hand: 2 + 2 + 3 + 2 under EUC_2D
	// (sqrt 5, sqrt 5, sqrt 10, 2 unrounded).
	sq := Instance{Points: [][2]float64{{0, 0}, {1, 2}, {3, 3}, {2, 0}}}
	l, err := tourLength(sq, []int{0, 1, 2, 3})
	require.NoError(t, err)
	require.Equal(t, 9.0, l)
	sq.EdgeWeightType = "EXACT_2D"
	l, err = tourLength(sq, []int{0, 1, 2, 3})
	require.NoError(t, err)
	require.InDelta(t, 2*math.Sqrt(5)+math.Sqrt(10)+2, l, 1e-12)
	_, err = tourLength(sq, []int{0, 1, 2, 2})
	require.Error(t, err)
}

// TestUnsupportedEdgeWeightType: a TSPLIB type the example does not
// compute is refused clearly: by the parser, by the instance schema at
// submit, and by the solvers.
func TestUnsupportedEdgeWeightType(t *testing.T) {
	geo := "NAME: g\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: GEO\nNODE_COORD_SECTION\n1 0 0\n2 0 1\n3 1 1\n4 1 0\nEOF\n"
	_, err := parseTSPLIB(strings.NewReader(geo))
	require.ErrorContains(t, err, "EDGE_WEIGHT_TYPE GEO is not supported; supported: ATT, CEIL_2D, EUC_2D, EXACT_2D, MAN_2D, MAX_2D")
	_, err = parseTSPLIB(strings.NewReader(strings.Replace(geo, "TYPE: TSP", "TYPE: ATSP", 1)))
	require.ErrorContains(t, err, "TYPE ATSP is not supported")
	_, err = parseTSPLIB(strings.NewReader("NAME: e\nTYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\n"))
	require.ErrorContains(t, err, "EXPLICIT is not supported")
	_, err = parseTSPLIB(strings.NewReader("TYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 0 1\n4 1 0\nEOF\n"))
	require.ErrorContains(t, err, "3 of 4 node coordinates")

	reg := registry.New()
	require.NoError(t, reg.Register(tspApp().Definition()))
	typ, err := reg.Lookup("tsp")
	require.NoError(t, err)
	pts := `[[0,0],[0,1],[1,1],[1,0]]`
	require.NoError(t, typ.ValidateInstance(json.RawMessage(`{"points":`+pts+`,"edge_weight_type":"EUC_2D"}`)))
	err = typ.ValidateInstance(json.RawMessage(`{"points":` + pts + `,"edge_weight_type":"GEO"}`))
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Len(t, je.Violations, 1)
	require.Equal(t, "/edge_weight_type", je.Violations[0].Pointer)

	// Past the schema (a caller of the solver itself): a failure naming
	// the supported types.
	res, err := runApp(t, Instance{Points: [][2]float64{{0, 0}, {0, 1}, {1, 1}, {1, 0}}, EdgeWeightType: "GEO"}, `{"solver":"nn"}`)
	require.Nil(t, res)
	var f *job.Failure
	require.ErrorAs(t, err, &f)
	require.Contains(t, f.Message, `edge weight type "GEO" is not supported`)
}

// runApp runs the App's job function on an instance, as a worker would.
func runApp(t *testing.T, in Instance, config string) (*job.Result, error) {
	t.Helper()
	jc := &job.Context{ExecutionID: "test", JobType: "tsp", Instance: mustRaw(t, in), Config: json.RawMessage(config),
		Logger: slog.New(slog.DiscardHandler)}
	v, err := tspApp().Definition().Func(context.Background(), jc)
	if err != nil {
		return nil, err
	}
	return v.(*job.Result), nil
}

// TestSolversUseTSPLIBLengths: on berlin52 both solvers report EUC_2D
// lengths (integers, at least the optimum 7542), equal to the recomputed
// KPI, with no finding from the solution checks.
func TestSolversUseTSPLIBLengths(t *testing.T) {
	in, _ := berlin52(t)
	for _, cfg := range []string{`{"solver":"nn"}`, `{"solver":"ils","seed":1,"time_limit":0.5}`} {
		res, err := runApp(t, in, cfg)
		require.NoError(t, err, cfg)
		require.NotNil(t, res.Objective, cfg)
		obj := *res.Objective
		require.Equal(t, math.Round(obj), obj, "%s: length %v is not a TSPLIB (integer) length", cfg, obj)
		require.GreaterOrEqual(t, obj, 7542.0, cfg)
		require.Equal(t, obj, res.KPIs["length"], cfg)
		require.Equal(t, obj, res.Solution.(Tour).Length, cfg)
		for _, c := range res.Checks {
			require.True(t, c.IsWarning, "%s: finding %s: %s", cfg, c.Name, c.Message)
		}
	}
}
