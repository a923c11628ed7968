package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/experiment"
)

// experimentSection compares the two solvers over a generated instance
// set (docs/experiments.md): greedy against branch and bound, every
// instance once each, two at a time. It prints the table per variant and
// writes the performance profile and the primal gap chart as SVG.
func experimentSection(ctx context.Context, svc *solvekit.Service) error {
	fmt.Println("\n== 5. an experiment: greedy vs bb over 12 generated instances")
	var files []solvekit.InstanceFile
	for i := range 12 {
		files = append(files, solvekit.InstanceFile{Name: fmt.Sprintf("rand-%02d.json", i), Data: randomInstance(25+5*i, uint64(i))})
	}
	set, err := svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "random", JobType: "knapsack"}, files)
	if err != nil {
		return err
	}
	e, err := svc.CreateExperiment(ctx, solvekit.ExperimentRequest{Name: "solvers", JobType: "knapsack", InstanceSetID: set.ID,
		Variants:    []solvekit.Variant{{Label: "greedy", Solver: "greedy"}, {Label: "bb", Solver: "bb", Config: json.RawMessage(`{"time_limit": 2}`)}},
		MaxInFlight: 2, Sense: experiment.Maximize})
	if err != nil {
		return err
	}
	for e.State == experiment.StateRunning {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if e, err = svc.Experiment(ctx, e.ID); err != nil {
			return err
		}
	}
	res, err := svc.ExperimentResults(ctx, e.ID)
	if err != nil {
		return err
	}
	fmt.Printf("%-8s %5s %6s %4s %14s %10s\n", "variant", "cells", "solved", "wins", "mean objective", "mean gap")
	for _, a := range res.Aggregates {
		fmt.Printf("%-8s %5d %6d %4d %14s %10s\n", a.Variant, a.Cells, a.Solved, a.Wins, experiment.Format(a.MeanObjective), experiment.Format(a.MeanGap))
	}
	fmt.Printf("profile: ρ(1) greedy %.2f, bb %.2f (the share of instances each solved fastest)\n", res.Profile[0].At(1), res.Profile[1].At(1))
	dir, err := os.MkdirTemp("", "knapsack-experiment")
	if err != nil {
		return err
	}
	profile, primal := filepath.Join(dir, "profile.svg"), filepath.Join(dir, "primal.svg")
	if err := os.WriteFile(profile, experiment.ProfileSVG(res.Profile), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(primal, experiment.PrimalGapSVG(res.Rows, []string{"greedy", "bb"}, e.Sense, 0), 0o644); err != nil {
		return err
	}
	fmt.Println("charts:", profile, primal)
	return nil
}

// randomInstance is an uncorrelated knapsack of n items.
func randomInstance(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 17))
	inst := Instance{}
	total := 0
	for i := range n {
		w := 1 + r.IntN(100)
		inst.Items = append(inst.Items, Item{Name: fmt.Sprintf("item%03d", i), Weight: w, Value: 1 + r.IntN(100)})
		total += w
	}
	inst.Capacity = total / 3
	b, _ := json.Marshal(inst)
	return b
}
