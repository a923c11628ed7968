package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// Item is one candidate for the knapsack.
type Item struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	Value  int    `json:"value"`
}

// Instance is a 0/1 knapsack problem: pick items of the largest total
// value whose total weight fits the capacity.
type Instance struct {
	Capacity int    `json:"capacity"`
	Items    []Item `json:"items"`
}

// Solution is the chosen items and their totals.
type Solution struct {
	Items  []string `json:"items"`
	Value  int      `json:"value"`
	Weight int      `json:"weight"`
}

var instanceSchema = []byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["capacity", "items"],
  "additionalProperties": false,
  "properties": {
    "capacity": {"type": "integer", "minimum": 0},
    "items": {"type": "array", "minItems": 1, "maxItems": 100000, "items": {
      "type": "object", "required": ["name", "weight", "value"], "additionalProperties": false,
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "weight": {"type": "integer"},
        "value": {"type": "integer", "minimum": 0}
      }}}
  }
}`)

var configSchema = []byte(`{
  "type": "object",
  "properties": {
    "solver": {"enum": ["greedy", "bb"], "default": "bb"},
    "time_limit": {"type": "number", "exclusiveMinimum": 0, "description": "seconds"}
  },
  "additionalProperties": false
}`)

var solutionSchema = []byte(`{
  "type": "object",
  "required": ["items", "value", "weight"],
  "properties": {
    "items": {"type": "array", "items": {"type": "string"}},
    "value": {"type": "integer", "minimum": 0},
    "weight": {"type": "integer", "minimum": 0}
  }
}`)

// knapsackApp is the solver App: two solvers, instance and solution
// checks, KPIs.
func knapsackApp() *solver.App {
	return &solver.App{
		Name:           "knapsack",
		Description:    "0/1 knapsack: greedy by value density, or branch and bound",
		InstanceSchema: instanceSchema,
		ConfigSchema:   configSchema,
		SolutionSchema: solutionSchema,
		Solvers: map[string]solver.Solver{
			"greedy": solver.SolverFunc(solveGreedy),
			"bb":     solver.SolverFunc(solveBranchAndBound),
		},
		DefaultSolver: "bb",
		InstanceChecks: []solver.Check{
			solver.InstanceCheck("positive_weights", func(in Instance) (msgs []string) {
				for _, it := range in.Items {
					if it.Weight <= 0 {
						msgs = append(msgs, fmt.Sprintf("item %q has weight %d; weights must be positive", it.Name, it.Weight))
					}
				}
				return msgs
			}),
			solver.InstanceCheck("items_fit", func(in Instance) (msgs []string) {
				for _, it := range in.Items {
					if it.Weight > in.Capacity {
						msgs = append(msgs, fmt.Sprintf("item %q (weight %d) never fits the capacity %d", it.Name, it.Weight, in.Capacity))
					}
				}
				return msgs
			}).AsWarning(),
		},
		SolutionChecks: []solver.Check{
			solver.SolutionCheck("within_capacity", func(in Instance, s Solution) []string {
				if s.Weight > in.Capacity {
					return []string{fmt.Sprintf("weight %d exceeds the capacity %d", s.Weight, in.Capacity)}
				}
				return nil
			}),
			solver.SolutionCheck("totals_match", func(in Instance, s Solution) []string {
				byName := map[string]Item{}
				for _, it := range in.Items {
					byName[it.Name] = it
				}
				w, v := 0, 0
				for _, n := range s.Items {
					w, v = w+byName[n].Weight, v+byName[n].Value
				}
				if w != s.Weight || v != s.Value {
					return []string{fmt.Sprintf("items add up to weight %d and value %d, not %d and %d", w, v, s.Weight, s.Value)}
				}
				return nil
			}),
		},
		KPIs: []solver.KPI{
			solver.KPIOf("value", func(_ Instance, s Solution) float64 { return float64(s.Value) }),
			solver.KPIOf("fill_rate", func(in Instance, s Solution) float64 {
				if in.Capacity == 0 {
					return 0
				}
				return float64(s.Weight) / float64(in.Capacity)
			}),
			solver.KPIOf("items", func(_ Instance, s Solution) float64 { return float64(len(s.Items)) }),
		},
	}
}

// byDensity returns the items sorted by value per unit of weight, best
// first (ties by name, so runs are reproducible).
func byDensity(items []Item) []Item {
	out := append([]Item(nil), items...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Value*out[j].Weight, out[j].Value*out[i].Weight
		if a != b {
			return a > b
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// lpBound is the fractional knapsack bound (Dantzig) of packing items[i:]
// on top of load and value.
func lpBound(items []Item, capacity, i, load, value int) float64 {
	for ; i < len(items); i++ {
		if load+items[i].Weight <= capacity {
			load += items[i].Weight
			value += items[i].Value
			continue
		}
		return float64(value) + float64(capacity-load)*float64(items[i].Value)/float64(items[i].Weight)
	}
	return float64(value)
}

// solveGreedy packs by value density; its objective is compared with the
// LP bound to tell whether it happens to be optimal.
func solveGreedy(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var inst Instance
	if err := in.DecodeInstance(&inst); err != nil {
		return nil, err
	}
	items := byDensity(inst.Items)
	var sol Solution
	for _, it := range items {
		if sol.Weight+it.Weight <= inst.Capacity {
			sol.Items = append(sol.Items, it.Name)
			sol.Weight += it.Weight
			sol.Value += it.Value
		}
	}
	bound := math.Floor(lpBound(items, inst.Capacity, 0, 0, 0))
	in.Logger().Info("greedy packing", "items", len(sol.Items), "value", sol.Value, "lp_bound", bound)
	status := job.StatusFeasible
	if float64(sol.Value) >= bound {
		status = job.StatusOptimal
	}
	return &job.Result{Solution: sol, Status: status, Objective: job.Float(float64(sol.Value)), BestBound: job.Float(bound)}, nil
}

// solveBranchAndBound searches depth first, best density first, pruning
// with the LP bound. It starts from the greedy packing, publishes every
// better packing as an incumbent, and returns its best packing as soon as
// ctx is done (stop or time limit): the App then reports feasible or
// time_limit instead of optimal.
func solveBranchAndBound(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var inst Instance
	if err := in.DecodeInstance(&inst); err != nil {
		return nil, err
	}
	s := &search{ctx: ctx, in: in, items: byDensity(inst.Items), capacity: inst.Capacity, start: time.Now()}
	s.take = make([]bool, len(s.items))
	s.root = math.Floor(lpBound(s.items, s.capacity, 0, 0, 0))
	greedy, _ := solveGreedy(ctx, in)
	s.publish(greedy.Solution.(Solution))
	in.Logger().Info("branch and bound started", "items", len(s.items), "capacity", s.capacity, "root_bound", s.root)

	s.dfs(0, 0, 0)

	res := &job.Result{Solution: s.best, Objective: job.Float(float64(s.best.Value)),
		Stats: map[string]any{"nodes": s.nodes}}
	if s.interrupted {
		// Proven bound: the root LP bound (a stopped DFS proves no better).
		res.BestBound = job.Float(s.root)
		in.Logger().Info("search interrupted", "nodes", s.nodes, "best", s.best.Value, "cause", context.Cause(ctx).Error())
		return res, nil // Status left empty: the App says time_limit or feasible
	}
	res.Status = job.StatusOptimal
	res.BestBound = job.Float(float64(s.best.Value))
	in.Logger().Info("search complete", "nodes", s.nodes, "optimum", s.best.Value)
	return res, nil
}

// search is the state of one branch and bound run.
type search struct {
	ctx         context.Context
	in          *solver.Input
	items       []Item
	capacity    int
	take        []bool
	root        float64
	best        Solution
	nodes       int64
	interrupted bool
	start       time.Time
}

func (s *search) publish(sol Solution) {
	s.best = sol
	if err := s.in.Incumbent(sol, float64(sol.Value)); err != nil {
		s.in.Logger().Warn("incumbent refused", "err", err)
	}
	s.in.Log.Progress(solver.ProgressRow{Node: s.nodes, BestInteger: job.Float(float64(sol.Value)), CutsBestBound: job.Float(s.root)})
}

func (s *search) dfs(i, load, value int) {
	s.nodes++
	if s.nodes&0xfff == 0 {
		if s.ctx.Err() != nil {
			s.interrupted = true
		}
		if s.nodes&0xfffff == 0 {
			s.in.Log.Progress(solver.ProgressRow{Node: s.nodes, BestInteger: job.Float(float64(s.best.Value)), CutsBestBound: job.Float(s.root)})
			s.in.Progress(s.in.TimeUsed(s.start), fmt.Sprintf("%d nodes, best %d, bound %.0f", s.nodes, s.best.Value, s.root))
		}
	}
	if s.interrupted {
		return
	}
	if value > s.best.Value {
		sol := Solution{Value: value, Weight: load}
		for j, t := range s.take[:i] {
			if t {
				sol.Items = append(sol.Items, s.items[j].Name)
			}
		}
		s.publish(sol)
	}
	if i == len(s.items) || math.Floor(lpBound(s.items, s.capacity, i, load, value)) <= float64(s.best.Value) {
		return
	}
	if it := s.items[i]; load+it.Weight <= s.capacity {
		s.take[i] = true
		s.dfs(i+1, load+it.Weight, value+it.Value)
		s.take[i] = false
	}
	s.dfs(i+1, load, value)
}
