package experiment

import (
	"maps"
	"math"
	"slices"
	"sort"
)

// SGMShift is the shift, in seconds, of the shifted geometric mean of
// times: exp(mean(ln(t + 10))) − 10. The shift keeps very short runs from
// dominating the mean (as MIPLIB's comparisons do).
const SGMShift = 10.0

// MinTime is the least time, in seconds, a performance profile uses: a
// run faster than the clock's millisecond counts as 1 ms, so that ratios
// stay finite.
const MinTime = 1e-3

// Aggregate summarises one variant's cells.
type Aggregate struct {
	Variant string `json:"variant"`
	// Cells is how many cells the variant has; Finished how many ended;
	// Solved how many Row.Solved; WithSolution how many have an objective.
	Cells        int `json:"cells"`
	Finished     int `json:"finished"`
	Solved       int `json:"solved"`
	WithSolution int `json:"with_solution"`
	// SGMTime is the shifted geometric mean (SGMShift) of the finished
	// cells' times, a cell not solved counting the experiment's time limit
	// when that is longer than its own time.
	SGMTime *float64 `json:"sgm_time,omitempty"`
	// MeanGap is the mean Row.Gap of the cells that have one.
	MeanGap *float64 `json:"mean_gap,omitempty"`
	// MeanObjective is the mean objective of the cells that have one.
	MeanObjective *float64 `json:"mean_objective,omitempty"`
	// Wins is on how many problems (instance × repetition) the variant
	// had the best objective, the fastest among equals; exact ties all
	// win.
	Wins int `json:"wins"`
	// PrimalIntegral is the mean primal integral (PrimalIntegral) of the
	// finished cells, in seconds.
	PrimalIntegral *float64 `json:"primal_integral,omitempty"`
	// KPIs are the means of the cells' KPIs.
	KPIs map[string]float64 `json:"kpis,omitempty"`
}

// ShiftedGeoMean is exp(mean(ln(x + shift))) − shift; NaN without values.
func ShiftedGeoMean(xs []float64, shift float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += math.Log(x + shift)
	}
	return math.Exp(s/float64(len(xs))) - shift
}

// PrimalGap is Berthold's primal gap of objective x against the best
// known objective best: 0 when equal, 1 when their signs differ, else
// |x − best| / max(|x|, |best|). It lies in [0, 1].
func PrimalGap(x, best float64) float64 {
	switch {
	case x == best:
		return 0
	case x*best < 0:
		return 1
	}
	return math.Abs(x-best) / math.Max(math.Abs(x), math.Abs(best))
}

// PrimalIntegral integrates the primal gap over [0, horizon] seconds: 1
// until the first incumbent, then the gap of the last incumbent found
// (pts sorted by time). It is 0 for a run that had the best objective at
// once, and horizon for one that never found a solution.
func PrimalIntegral(pts []Point, best, horizon float64) float64 {
	total, t, gap := 0.0, 0.0, 1.0
	for _, p := range pts {
		at := math.Min(math.Max(p.T, t), horizon)
		total += gap * (at - t)
		t, gap = at, PrimalGap(p.Objective, best)
	}
	if horizon > t {
		total += gap * (horizon - t)
	}
	return total
}

// better says objective a beats b under sense.
func better(a, b float64, sense Sense) bool {
	if sense == Maximize {
		return a > b
	}
	return a < b
}

// bestObjectives maps each instance to the best objective any of rows
// has on it under sense (instances without one are absent).
func bestObjectives(rows []Row, sense Sense) map[int]float64 {
	best := map[int]float64{}
	for i := range rows {
		r := &rows[i]
		if r.Objective != nil {
			if b, ok := best[r.Instance]; !ok || better(*r.Objective, b, sense) {
				best[r.Instance] = *r.Objective
			}
		}
	}
	return best
}

// problem identifies a problem: an instance in one repetition.
type problem struct{ instance, rep int }

// trajectory is a row's incumbents with its final objective at its end.
func trajectory(r *Row) []Point {
	pts := r.Incumbents
	if r.Objective != nil && r.Time != nil && (len(pts) == 0 || pts[len(pts)-1].Objective != *r.Objective) {
		pts = append(slices.Clip(pts), Point{T: *r.Time, Objective: *r.Objective})
	}
	return pts
}

// Summarize computes the aggregates of rows for each variant (in that
// order), with the objective's sense and the time limit in seconds (0:
// none).
func Summarize(rows []Row, variants []string, sense Sense, timeLimit float64) []Aggregate {
	best := bestObjectives(rows, sense)
	horizon := map[problem]float64{} // problem → longest time
	byProblem := map[problem][]*Row{}
	for i := range rows {
		r := &rows[i]
		p := problem{r.Instance, r.Repetition}
		byProblem[p] = append(byProblem[p], r)
		if r.Time != nil {
			horizon[p] = math.Max(horizon[p], *r.Time)
		}
	}
	wins := map[string]int{}
	for _, rs := range byProblem {
		var top []*Row
		for _, r := range rs {
			if r.Objective == nil || !r.Finished() {
				continue
			}
			switch {
			case len(top) == 0:
				top = []*Row{r}
			case better(*r.Objective, *top[0].Objective, sense):
				top = []*Row{r}
			case *r.Objective == *top[0].Objective:
				t, t0 := timeOf(r), timeOf(top[0])
				if t < t0 {
					top = []*Row{r}
				} else if t == t0 {
					top = append(top, r)
				}
			}
		}
		for _, r := range top {
			wins[r.Variant]++
		}
	}
	out := make([]Aggregate, 0, len(variants))
	for _, v := range variants {
		a := Aggregate{Variant: v, Wins: wins[v]}
		var times, gaps, objs, pis []float64
		kpis := map[string][]float64{}
		for i := range rows {
			r := &rows[i]
			if r.Variant != v {
				continue
			}
			a.Cells++
			if !r.Finished() {
				continue
			}
			a.Finished++
			solved := r.Solved()
			if solved {
				a.Solved++
			}
			if r.Objective != nil {
				a.WithSolution++
				objs = append(objs, *r.Objective)
			}
			if r.Time != nil {
				t := *r.Time
				if !solved && timeLimit > t {
					t = timeLimit
				}
				times = append(times, t)
			}
			if r.Gap != nil {
				gaps = append(gaps, *r.Gap)
			}
			h := horizon[problem{r.Instance, r.Repetition}]
			if timeLimit > 0 {
				h = timeLimit
			}
			if b, ok := best[r.Instance]; ok && h > 0 {
				pis = append(pis, PrimalIntegral(trajectory(r), b, h))
			} else if h > 0 {
				pis = append(pis, h)
			}
			for k, x := range r.KPIs {
				kpis[k] = append(kpis[k], x)
			}
		}
		a.SGMTime = finite(ShiftedGeoMean(times, SGMShift))
		a.MeanGap, a.MeanObjective, a.PrimalIntegral = mean(gaps), mean(objs), mean(pis)
		if len(kpis) > 0 {
			a.KPIs = map[string]float64{}
			for _, k := range slices.Sorted(maps.Keys(kpis)) {
				a.KPIs[k] = *mean(kpis[k])
			}
		}
		out = append(out, a)
	}
	return out
}

func timeOf(r *Row) float64 {
	if r.Time == nil {
		return math.Inf(1)
	}
	return *r.Time
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func mean(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return finite(s / float64(len(xs)))
}

// Curve is one variant's performance profile: the fraction ρ(τ) of the
// problems it solved within τ times the best variant's time on each. It
// steps up at each Points' Tau.
type Curve struct {
	Variant string         `json:"variant"`
	Points  []ProfilePoint `json:"points"`
	// Problems is how many problems the profile counts.
	Problems int `json:"problems"`
}

// ProfilePoint is a step of a Curve: from Tau on, the fraction is
// Fraction.
type ProfilePoint struct {
	Tau      float64 `json:"tau"`
	Fraction float64 `json:"fraction"`
}

// At is ρ(τ): the fraction of problems solved within tau times the best
// time.
func (c Curve) At(tau float64) float64 {
	f := 0.0
	for _, p := range c.Points {
		if p.Tau > tau {
			break
		}
		f = p.Fraction
	}
	return f
}

// Profile computes the Dolan–Moré performance profile of the variants'
// times. The problems are the (instance, repetition) pairs with at least
// one finished cell; on each, a variant's ratio is its time over the best
// solving variant's time (times below MinTime count as MinTime), and is
// infinite when it did not solve it (Row.Solved). ρ_s(τ) is the fraction
// of problems whose ratio for s is at most τ; ρ_s(1) is the share of
// problems s was fastest on.
func Profile(rows []Row, variants []string) []Curve {
	type key struct {
		p problem
		v string
	}
	times := map[key]float64{}
	problems := map[problem]bool{}
	bestTime := map[problem]float64{}
	for i := range rows {
		r := &rows[i]
		if !r.Finished() {
			continue
		}
		p := problem{r.Instance, r.Repetition}
		problems[p] = true
		if !r.Solved() || r.Time == nil {
			continue
		}
		t := math.Max(*r.Time, MinTime)
		times[key{p, r.Variant}] = t
		if b, ok := bestTime[p]; !ok || t < b {
			bestTime[p] = t
		}
	}
	out := make([]Curve, 0, len(variants))
	for _, v := range variants {
		c := Curve{Variant: v, Points: []ProfilePoint{}, Problems: len(problems)}
		var ratios []float64
		for p := range problems {
			if t, ok := times[key{p, v}]; ok {
				ratios = append(ratios, t/bestTime[p])
			}
		}
		sort.Float64s(ratios)
		for i, r := range ratios {
			f := float64(i+1) / float64(len(problems))
			if n := len(c.Points); n > 0 && c.Points[n-1].Tau == r {
				c.Points[n-1].Fraction = f
				continue
			}
			c.Points = append(c.Points, ProfilePoint{Tau: r, Fraction: f})
		}
		out = append(out, c)
	}
	return out
}

// MeanPrimalGap is, per variant, the mean primal gap of its finished
// cells at times ts (seconds since their start): the data of the
// incumbent-over-time chart.
func MeanPrimalGap(rows []Row, variants []string, sense Sense, ts []float64) map[string][]float64 {
	best := bestObjectives(rows, sense)
	out := map[string][]float64{}
	for _, v := range variants {
		sum := make([]float64, len(ts))
		n := 0
		for i := range rows {
			r := &rows[i]
			if r.Variant != v || !r.Finished() {
				continue
			}
			n++
			pts := trajectory(r)
			b, ok := best[r.Instance]
			for j, t := range ts {
				g := 1.0
				for _, p := range pts {
					if p.T > t {
						break
					}
					if ok {
						g = PrimalGap(p.Objective, b)
					}
				}
				sum[j] += g
			}
		}
		if n > 0 {
			for j := range sum {
				sum[j] /= float64(n)
			}
		}
		out[v] = sum
	}
	return out
}
