package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// Instance is a symmetric Euclidean TSP: points in the plane.
type Instance struct {
	Points [][2]float64 `json:"points"`
}

// Config tunes the search; "solver" and "time_limit" are read by the App.
type Config struct {
	// Seed makes the random kicks of the local search reproducible.
	Seed uint64 `json:"seed"`
}

// Tour is the solution: the order the points are visited in (returning
// to the first) and the tour length.
type Tour struct {
	Tour   []int   `json:"tour"`
	Length float64 `json:"length"`
}

var instanceSchema = []byte(`{
  "type": "object",
  "required": ["points"],
  "properties": {
    "points": {"type": "array", "minItems": 4, "maxItems": 5000,
      "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}}
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
		Description:    "Euclidean travelling salesman by iterated local search",
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
		SolutionChecks: []solver.Check{solver.SolutionCheck("visits_every_point_once", func(in Instance, t Tour) []string {
			if !isPermutation(t.Tour, len(in.Points)) {
				return []string{"the tour does not visit every point exactly once"}
			}
			return nil
		})},
		KPIs: []solver.KPI{
			solver.KPIOf("length", func(_ Instance, t Tour) float64 { return t.Length }),
			solver.KPIOf("gain_over_nn_pct", func(in Instance, t Tour) float64 {
				d := distances(in.Points)
				nn := d.length(nearestNeighbour(d))
				return 100 * (nn - t.Length) / nn
			}),
		},
	}
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

// dist is a distance matrix.
type dist [][]float64

func distances(pts [][2]float64) dist {
	d := make(dist, len(pts))
	for i := range pts {
		d[i] = make([]float64, len(pts))
		for j := range pts {
			d[i][j] = math.Hypot(pts[i][0]-pts[j][0], pts[i][1]-pts[j][1])
		}
	}
	return d
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
	d := distances(inst.Points)
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
	d := distances(inst.Points)
	start := time.Now()
	log := in.Logger()

	cur := nearestNeighbour(d)
	log.Info("start from the nearest neighbour tour", "points", len(cur), "length", round(d.length(cur)), "seed", cfg.Seed)
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
