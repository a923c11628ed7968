package main

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/solvekit/solvekit/job"
)

// Item is one candidate for the knapsack.
type Item struct {
	Name   string `json:"name" validate:"required"`
	Weight int    `json:"weight" validate:"gt=0"`
	Value  int    `json:"value" validate:"gte=0"`
}

// Instance is a 0/1 knapsack problem.
type Instance struct {
	Capacity int    `json:"capacity" validate:"gte=0"`
	Items    []Item `json:"items" validate:"dive"`
}

// Solution is the chosen items and their totals.
type Solution struct {
	Items  []string `json:"items"`
	Value  int      `json:"value"`
	Weight int      `json:"weight"`
}

// Config tunes the solve.
type Config struct {
	// NodeLimit stops the search after this many nodes (0: no limit).
	NodeLimit int `json:"node_limit"`
}

var instanceSchema = []byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["capacity", "items"],
  "additionalProperties": false,
  "properties": {
    "capacity": {"type": "integer", "minimum": 0},
    "items": {"type": "array", "maxItems": 10000, "items": {
      "type": "object", "required": ["name", "weight", "value"], "additionalProperties": false,
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "weight": {"type": "integer", "minimum": 1},
        "value": {"type": "integer", "minimum": 0}
      }}}
  }
}`)

var configSchema = []byte(`{
  "type": "object",
  "properties": {
    "node_limit": {"type": "integer", "minimum": 0, "default": 0}
  }
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

// knapsackJob solves 0/1 knapsack by depth-first branch and bound with the
// fractional (LP) bound, publishing each better solution as an incumbent
// and honouring cancellation and the time limit: stopped with a solution
// it reports feasible (time_limit when the time limit stopped it), stopped
// before its first solution it reports not_solved and no solution.
func knapsackJob() *job.Definition {
	return job.AsyncOf("knapsack", solveKnapsack,
		job.WithDescription("0/1 knapsack by branch and bound"),
		job.WithInstanceSchema(instanceSchema),
		job.WithConfigSchema(configSchema),
		job.WithSolutionSchema(solutionSchema))
}

func solveKnapsack(ctx context.Context, jc *job.Context, in Instance) (job.Result, error) {
	var cfg Config
	if err := jc.DecodeConfig(&cfg); err != nil {
		return job.Result{}, err
	}
	items := append([]Item(nil), in.Items...)
	sort.SliceStable(items, func(a, b int) bool {
		return items[a].Value*items[b].Weight > items[b].Value*items[a].Weight
	})
	n := len(items)
	bound := func(i, weight, value int) float64 {
		b := float64(value)
		room := in.Capacity - weight
		for ; i < n && items[i].Weight <= room; i++ {
			room -= items[i].Weight
			b += float64(items[i].Value)
		}
		if i < n {
			b += float64(room) * float64(items[i].Value) / float64(items[i].Weight)
		}
		return b
	}
	root := bound(0, 0, 0)
	log := jc.Log() // jc.Logger, or a discarding one when a unit test sets none
	log.Info("solving", "items", n, "capacity", in.Capacity, "root_bound", root)

	best, bestTake := -1, []bool(nil)
	take := make([]bool, n)
	nodes := 0
	var stopErr error
	publish := func(weight int) {
		sol := Solution{Value: best, Weight: weight, Items: []string{}}
		for i, t := range bestTake {
			if t {
				sol.Items = append(sol.Items, items[i].Name)
			}
		}
		if err := jc.Incumbent(sol, float64(best)); err != nil {
			log.Warn("incumbent refused", "err", err)
		}
		gap := 0.0
		if root > 0 {
			gap = (root - float64(best)) / root
		}
		jc.Progress(1-gap, fmt.Sprintf("incumbent %d, bound %.1f", best, root))
		log.Info("new incumbent", "value", best, "weight", weight, "nodes", nodes)
	}
	var dfs func(i, weight, value int)
	dfs = func(i, weight, value int) {
		if stopErr != nil {
			return
		}
		nodes++
		if nodes%4096 == 0 {
			if err := ctx.Err(); err != nil {
				stopErr = err
				return
			}
			if cfg.NodeLimit > 0 && nodes >= cfg.NodeLimit {
				stopErr = fmt.Errorf("node limit %d reached", cfg.NodeLimit)
				return
			}
		}
		if i == n {
			// A leaf: every decision is made. Interior nodes are feasible
			// too, but publishing only leaves keeps the incumbents few.
			if value > best {
				best = value
				bestTake = append(bestTake[:0], take...)
				publish(weight)
			}
			return
		}
		if bound(i, weight, value) <= float64(best) {
			return
		}
		if weight+items[i].Weight <= in.Capacity {
			take[i] = true
			dfs(i+1, weight+items[i].Weight, value+items[i].Value)
			take[i] = false
		}
		dfs(i+1, weight, value)
	}
	dfs(0, 0, 0)

	stats := map[string]any{"nodes": nodes}
	if stopErr != nil {
		log.Info("search interrupted", "reason", stopErr.Error(), "nodes", nodes)
	}
	if best < 0 {
		// Stopped before the first leaf (a large instance, a stop or a
		// time limit early on): there is no solution to report.
		log.Info("done without a solution", "nodes", nodes)
		return job.Result{Status: job.StatusNotSolved, BestBound: job.Float(root), Stats: stats}, nil
	}
	sol := Solution{Value: best, Items: []string{}}
	for i, t := range bestTake {
		if t {
			sol.Items = append(sol.Items, items[i].Name)
			sol.Weight += items[i].Weight
		}
	}
	status := job.StatusOptimal
	switch {
	case stopErr == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		status = job.StatusTimeLimit // the execution's time limit
	default:
		status = job.StatusFeasible // stopped (Cancel) or node limit
	}
	log.Info("done", "value", best, "nodes", nodes)
	return job.Result{Solution: sol, Status: status, Objective: job.Float(float64(best)),
		BestBound: job.Float(root), Stats: stats}, nil
}

// echoJob is a ckan-style synchronous job: it answers inside the request.
func echoJob() *job.Definition {
	type msg struct {
		Message string `json:"message" validate:"required,max=1000"`
	}
	return job.SyncOf("echo", func(ctx context.Context, jc *job.Context, in msg) (msg, error) {
		jc.Logger.Info("echo", "length", len(in.Message))
		return in, nil
	}, job.WithDescription("answers with its input, synchronously"),
		job.WithInstanceSchema([]byte(`{"type":"object","required":["message"],"properties":{"message":{"type":"string"}}}`)))
}
