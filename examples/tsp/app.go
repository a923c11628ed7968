package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// Instance is a symmetric TSP on points in the plane, with a TSPLIB
// distance function.
type Instance struct {
	Points [][2]float64 `json:"points"`
	// EdgeWeightType is TSPLIB's EDGE_WEIGHT_TYPE: "EUC_2D" (the default:
	// Euclidean distance rounded to the nearest integer, as TSPLIB's
	// published optima use), "CEIL_2D", "ATT", "MAN_2D" or "MAX_2D"; or
	// "EXACT_2D", the unrounded Euclidean distance (not a TSPLIB type).
	EdgeWeightType string `json:"edge_weight_type,omitempty"`
}

// Config tunes the search; "solver" and "time_limit" are read by the App.
type Config struct {
	// Seed makes the random kicks of the local search reproducible.
	Seed uint64 `json:"seed"`
}

// Tour is the solution: the order the points are visited in (returning
// to the first) and the tour length under the instance's edge weights.
type Tour struct {
	Tour   []int   `json:"tour"`
	Length float64 `json:"length"`
}

var instanceSchema = []byte(`{
  "type": "object",
  "required": ["points"],
  "properties": {
    "points": {"type": "array", "minItems": 4, "maxItems": 5000,
      "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}},
    "edge_weight_type": {"enum": ["EUC_2D", "CEIL_2D", "ATT", "MAN_2D", "MAX_2D", "EXACT_2D"], "default": "EUC_2D",
      "description": "TSPLIB EDGE_WEIGHT_TYPE; EXACT_2D is the unrounded Euclidean distance"}
  }
}`)

var configSchema = []byte(`{
  "type": "object",
  "properties": {
    "solver": {"enum": ["ils", "nn"], "default": "ils"},
    "seed": {"type": "integer", "minimum": 0, "default": 1},
    "time_limit": {"type": "number", "exclusiveMinimum": 0}
  },
  "additionalProperties": false
}`)

var solutionSchema = []byte(`{
  "type": "object",
  "required": ["tour", "length"],
  "properties": {
    "tour": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "length": {"type": "number", "minimum": 0}
  }
}`)

// tspApp offers "nn" (nearest neighbour, a baseline) and "ils" (iterated
// local search: 2-opt and or-opt from the nearest neighbour tour, then
// random double-bridge kicks until stopped or out of time).
func tspApp() *solver.App {
	return &solver.App{
		Name:           "tsp",
		Description:    "travelling salesman (TSPLIB 2D distances) by iterated local search",
		InstanceSchema: instanceSchema,
		ConfigSchema:   configSchema,
		SolutionSchema: solutionSchema,
		Solvers: map[string]solver.Solver{
			"nn":  solver.SolverFunc(solveNearestNeighbour),
			"ils": solver.SolverFunc(solveILS),
		},
		DefaultSolver: "ils",
		InstanceChecks: []solver.Check{solver.InstanceCheck("distinct_points", func(in Instance) []string {
			seen := map[[2]float64]bool{}
			for _, p := range in.Points {
				if seen[p] {
					return []string{fmt.Sprintf("point %v appears more than once", p)}
				}
				seen[p] = true
			}
			return nil
		}).AsWarning()},
		SolutionChecks: []solver.Check{
			solver.SolutionCheck("visits_every_point_once", func(in Instance, t Tour) []string {
				if !isPermutation(t.Tour, len(in.Points)) {
					return []string{"the tour does not visit every point exactly once"}
				}
				return nil
			}),
			// The reported length must be the tour's length under the
			// instance's edge weights, recomputed here.
			solver.SolutionCheck("length_matches_tour", func(in Instance, t Tour) []string {
				l, err := tourLength(in, t.Tour)
				if err != nil {
					return []string{err.Error()}
				}
				if math.Abs(l-t.Length) > 1e-6*math.Max(1, l) {
					return []string{fmt.Sprintf("the reported length %g is not the tour's length %g (%s)", t.Length, l, edgeWeightType(in))}
				}
				return nil
			}),
		},
		KPIs: []solver.KPI{
			kpi("length", tourLength),
			kpi("gain_over_nn_pct", func(in Instance, tour []int) (float64, error) {
				l, err := tourLength(in, tour)
				if err != nil {
					return 0, err
				}
				d, _ := distances(in) // tourLength checked the instance
				nn := d.length(nearestNeighbour(d))
				return 100 * (nn - l) / nn, nil
			}),
		},
	}
}

// kpi builds a KPI from the instance and the tour; the tour's reported
// length is never used, KPIs recompute it.
func kpi(name string, fn func(in Instance, tour []int) (float64, error)) solver.KPI {
	return solver.KPI{Name: name, Func: func(_ context.Context, instance, solution json.RawMessage) (float64, error) {
		var in Instance
		var t Tour
		if err := json.Unmarshal(instance, &in); err != nil {
			return 0, fmt.Errorf("instance does not decode: %w", err)
		}
		if err := json.Unmarshal(solution, &t); err != nil {
			return 0, fmt.Errorf("solution does not decode: %w", err)
		}
		return fn(in, t.Tour)
	}}
}

// tourLength is the length of a tour of the instance under its edge
// weights; a tour that is not a permutation of the points is an error.
func tourLength(in Instance, tour []int) (float64, error) {
	if !isPermutation(tour, len(in.Points)) {
		return 0, errors.New("the tour does not visit every point exactly once")
	}
	d, err := distances(in)
	if err != nil {
		return 0, err
	}
	return d.length(tour), nil
}

func isPermutation(tour []int, n int) bool {
	if len(tour) != n {
		return false
	}
	seen := make([]bool, n)
	for _, c := range tour {
		if c < 0 || c >= n || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// metrics are the edge weight functions by EDGE_WEIGHT_TYPE, as TSPLIB
// defines them (TSPLIB 95, section 2): nint(x) is int(x + 0.5).
var metrics = map[string]func(a, b [2]float64) float64{
	"EUC_2D": func(a, b [2]float64) float64 { return nint(math.Hypot(a[0]-b[0], a[1]-b[1])) },
	"CEIL_2D": func(a, b [2]float64) float64 {
		return math.Ceil(math.Hypot(a[0]-b[0], a[1]-b[1]))
	},
	// ATT: pseudo-Euclidean, rounded up when nint rounds down.
	"ATT": func(a, b [2]float64) float64 {
		dx, dy := a[0]-b[0], a[1]-b[1]
		r := math.Sqrt((dx*dx + dy*dy) / 10)
		t := nint(r)
		if t < r {
			t++
		}
		return t
	},
	"MAN_2D": func(a, b [2]float64) float64 { return nint(math.Abs(a[0]-b[0]) + math.Abs(a[1]-b[1])) },
	"MAX_2D": func(a, b [2]float64) float64 {
		return math.Max(nint(math.Abs(a[0]-b[0])), nint(math.Abs(a[1]-b[1])))
	},
	// EXACT_2D is not TSPLIB's: the Euclidean distance, unrounded.
	"EXACT_2D": func(a, b [2]float64) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) },
}

// nint is TSPLIB's rounding to the nearest integer, (int)(x + 0.5).
func nint(x float64) float64 { return math.Floor(x + 0.5) }

// edgeWeightTypes lists the supported EDGE_WEIGHT_TYPE values.
func edgeWeightTypes() []string {
	return slices.Sorted(maps.Keys(metrics))
}

// edgeWeightType is the instance's EDGE_WEIGHT_TYPE, EUC_2D when unset.
func edgeWeightType(in Instance) string {
	if in.EdgeWeightType == "" {
		return "EUC_2D"
	}
	return in.EdgeWeightType
}

// dist is a distance matrix.
type dist [][]float64

// distances builds the instance's distance matrix; an EDGE_WEIGHT_TYPE
// this example does not compute is an error naming the ones it does.
func distances(in Instance) (dist, error) {
	metric, ok := metrics[edgeWeightType(in)]
	if !ok {
		return nil, fmt.Errorf("edge weight type %q is not supported; supported: %s",
			in.EdgeWeightType, strings.Join(edgeWeightTypes(), ", "))
	}
	pts := in.Points
	d := make(dist, len(pts))
	for i := range pts {
		d[i] = make([]float64, len(pts))
		for j := range pts {
			d[i][j] = metric(pts[i], pts[j])
		}
	}
	return d, nil
}

func (d dist) length(t []int) float64 {
	l := 0.0
	for i := range t {
		l += d[t[i]][t[(i+1)%len(t)]]
	}
	return l
}

// nearestNeighbour builds a tour from point 0, always going to the
// closest point not yet visited.
func nearestNeighbour(d dist) []int {
	n := len(d)
	tour := []int{0}
	used := make([]bool, n)
	used[0] = true
	for len(tour) < n {
		last, next := tour[len(tour)-1], -1
		for j := range n {
			if !used[j] && (next < 0 || d[last][j] < d[last][next]) {
				next = j
			}
		}
		used[next] = true
		tour = append(tour, next)
	}
	return tour
}

func solveNearestNeighbour(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var inst Instance
	if err := in.DecodeInstance(&inst); err != nil {
		return nil, err
	}
	d, err := distances(inst)
	if err != nil {
		return nil, job.Fail(err.Error(), nil)
	}
	t := nearestNeighbour(d)
	l := d.length(t)
	in.Logger().Info("nearest neighbour tour", "points", len(t), "length", round(l))
	return &job.Result{Solution: Tour{Tour: t, Length: l}, Status: job.StatusFeasible, Objective: job.Float(l)}, nil
}

// solveILS improves the nearest neighbour tour with 2-opt and or-opt,
// then kicks it (double bridge) and improves again, keeping the best,
// until ctx is done. It never proves optimality: it runs until stopped or
// out of time and returns its best tour, which the App reports as
// feasible (stop) or time_limit.
func solveILS(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var inst Instance
	if err := in.DecodeInstance(&inst); err != nil {
		return nil, err
	}
	var cfg Config
	if err := in.DecodeConfig(&cfg); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7357))
	d, err := distances(inst)
	if err != nil {
		return nil, job.Fail(err.Error(), nil)
	}
	start := time.Now()
	log := in.Logger()

	cur := nearestNeighbour(d)
	log.Info("start from the nearest neighbour tour", "points", len(cur), "length", round(d.length(cur)),
		"edge_weight_type", edgeWeightType(inst), "seed", cfg.Seed)
	localSearch(ctx, d, cur)
	best, bestLen := append([]int(nil), cur...), d.length(cur)
	log.Info("local optimum (2-opt + or-opt)", "length", round(bestLen))

	var lastPublished time.Time
	publish := func(iter int64, force bool) {
		in.Log.Progress(solver.ProgressRow{Node: iter, BestInteger: job.Float(bestLen)})
		if !force && time.Since(lastPublished) < 250*time.Millisecond {
			return // incumbents are stored in Redis: a few per second is plenty
		}
		lastPublished = time.Now()
		if err := in.Incumbent(Tour{Tour: best, Length: bestLen}, bestLen); err != nil {
			log.Warn("incumbent refused", "err", err)
		}
		in.Progress(in.TimeUsed(start), fmt.Sprintf("iteration %d, best length %.1f", iter, bestLen))
		log.Info("new best tour", "iteration", iter, "length", round(bestLen))
	}
	publish(0, true)

	var iter int64
	pending := false // an improvement not yet published
	for ctx.Err() == nil {
		iter++
		cand := doubleBridge(best, rng)
		localSearch(ctx, d, cand)
		if l := d.length(cand); l < bestLen-1e-9 && ctx.Err() == nil {
			best, bestLen = cand, l
			pending = true
		}
		if pending && time.Since(lastPublished) >= 250*time.Millisecond {
			publish(iter, false)
			pending = false
		}
		if iter%200 == 0 {
			in.Progress(in.TimeUsed(start), fmt.Sprintf("iteration %d, best length %.1f", iter, bestLen))
		}
	}
	log.Info("search ended", "iterations", iter, "best", round(bestLen), "cause", context.Cause(ctx).Error())
	// No Status: the App reports time_limit or feasible from ctx.
	return &job.Result{Solution: Tour{Tour: best, Length: bestLen}, Objective: job.Float(bestLen),
		Stats: map[string]any{"iterations": iter}}, nil
}

// localSearch applies improving 2-opt and or-opt moves until none is left
// (or ctx ends).
func localSearch(ctx context.Context, d dist, t []int) {
	for ctx.Err() == nil {
		if !twoOpt(d, t) && !orOpt(d, t) {
			return
		}
	}
}

// twoOpt makes one pass of first-improvement 2-opt moves; it reports
// whether it improved the tour.
func twoOpt(d dist, t []int) bool {
	n, improved := len(t), false
	for i := 0; i < n-2; i++ {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // the same edge pair
			}
			a, b, c, e := t[i], t[i+1], t[j], t[(j+1)%n]
			if d[a][c]+d[b][e] < d[a][b]+d[c][e]-1e-9 {
				for l, r := i+1, j; l < r; l, r = l+1, r-1 {
					t[l], t[r] = t[r], t[l]
				}
				improved = true
			}
		}
	}
	return improved
}

// orOpt moves one segment of 1 to 3 points to a better place (possibly
// reversed); it reports whether it found such a move.
func orOpt(d dist, t []int) bool {
	n := len(t)
	for seg := 1; seg <= 3; seg++ {
		for i := 1; i+seg <= n; i++ {
			s0, s1 := t[i], t[i+seg-1]
			prev, next := t[i-1], t[(i+seg)%n]
			gain := d[prev][s0] + d[s1][next] - d[prev][next]
			for j := 0; j < n; j++ {
				if j >= i-1 && j < i+seg {
					continue // an edge touching the segment
				}
				u, v := t[j], t[(j+1)%n]
				fwd := d[u][s0] + d[s1][v] - d[u][v]
				rev := d[u][s1] + d[s0][v] - d[u][v]
				if min(fwd, rev) < gain-1e-9 {
					moveSegment(t, i, seg, j, rev < fwd)
					return true
				}
			}
		}
	}
	return false
}

// moveSegment moves t[i:i+seg] to after the point at position j.
func moveSegment(t []int, i, seg, j int, reverse bool) {
	segment := append([]int(nil), t[i:i+seg]...)
	if reverse {
		for l, r := 0, len(segment)-1; l < r; l, r = l+1, r-1 {
			segment[l], segment[r] = segment[r], segment[l]
		}
	}
	after := t[j]
	rest := append(append([]int(nil), t[:i]...), t[i+seg:]...)
	out := t[:0]
	for _, c := range rest {
		out = append(out, c)
		if c == after {
			out = append(out, segment...)
		}
	}
}

// doubleBridge returns a copy of t cut into A B C D and joined as A C B D,
// a kick 2-opt cannot undo in one move.
func doubleBridge(t []int, rng *rand.Rand) []int {
	n := len(t)
	p := []int{1 + rng.IntN(n-3), 0, 0}
	p[1] = p[0] + 1 + rng.IntN(n-p[0]-2)
	p[2] = p[1] + 1 + rng.IntN(n-p[1]-1)
	out := make([]int, 0, n)
	out = append(out, t[:p[0]]...)
	out = append(out, t[p[1]:p[2]]...)
	out = append(out, t[p[0]:p[1]]...)
	out = append(out, t[p[2]:]...)
	return out
}

func round(f float64) float64 { return math.Round(f*10) / 10 }
