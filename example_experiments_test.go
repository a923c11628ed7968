package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/job"
)

// roundJob rounds its instance's x down ("floor") or to the nearest
// integer ("round"): two "solvers" to compare.
func roundJob() *job.Definition {
	return job.Async("round", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ X float64 }
		var cfg struct{ Mode string }
		if err := json.Unmarshal(jc.Instance, &in); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(jc.Config, &cfg); err != nil {
			return nil, err
		}
		v := math.Round(in.X)
		if cfg.Mode == "floor" {
			v = math.Floor(in.X)
		}
		return job.Result{Solution: map[string]float64{"v": v}, Objective: &v}, nil
	}, job.WithConfigSchema([]byte(`{"type": "object", "properties": {"mode": {"enum": ["floor", "round"]}}}`)))
}

// An experiment runs every instance of a set under every variant (here
// two configs), at most MaxInFlight at a time, in the processes that run
// Work; its results compare the variants.
func ExampleService_CreateExperiment() {
	ctx := context.Background()
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet(), SchedulerInterval: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	if err := svc.Register(roundJob()); err != nil {
		panic(err)
	}
	defer work(svc)()

	var files []solvekit.InstanceFile
	for i, x := range []float64{1.6, 2.7, 3.5} {
		files = append(files, solvekit.InstanceFile{Name: fmt.Sprintf("x%d.json", i), Data: fmt.Appendf(nil, `{"x": %g}`, x)})
	}
	set, err := svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "xs", JobType: "round"}, files)
	if err != nil {
		panic(err)
	}
	e, err := svc.CreateExperiment(ctx, solvekit.ExperimentRequest{JobType: "round", InstanceSetID: set.ID,
		Variants: []solvekit.Variant{
			{Label: "floor", Config: json.RawMessage(`{"mode": "floor"}`)},
			{Label: "round", Config: json.RawMessage(`{"mode": "round"}`)},
		},
		MaxInFlight: 2, Sense: experiment.Maximize})
	if err != nil {
		panic(err)
	}
	for e.State == experiment.StateRunning {
		time.Sleep(20 * time.Millisecond)
		if e, err = svc.Experiment(ctx, e.ID); err != nil {
			panic(err)
		}
	}
	res, err := svc.ExperimentResults(ctx, e.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.State, len(res.Rows), "cells")
	for _, a := range res.Aggregates {
		fmt.Printf("%s: solved %d, wins %d, mean objective %g\n", a.Variant, a.Solved, a.Wins, *a.MeanObjective)
	}
	// Output:
	// finished 6 cells
	// floor: solved 3, wins 0, mean objective 2
	// round: solved 3, wins 3, mean objective 3
}

// Listing one owner's instance sets reads a per-owner index: full pages,
// and a total that counts theirs only. An instance a set holds cannot be
// deleted while the set exists.
func ExampleService_InstanceSets() {
	ctx := context.Background()
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	var held *solvekit.InstanceSet
	for _, owner := range []string{"ann", "bob", "ann"} {
		set, err := svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: owner + "'s", Owner: owner},
			[]solvekit.InstanceFile{{Name: "a.json", Data: []byte(`{"x": 1}`)}})
		if err != nil {
			panic(err)
		}
		held = set
	}
	sets, total, err := svc.InstanceSets(ctx, solvekit.ListFilter{Owner: "ann", Limit: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(sets), "of", total, "of ann's sets")
	err = svc.DeleteInstance(ctx, held.InstanceIDs[0])
	fmt.Println(job.ErrorCode(err))
	if err := svc.DeleteInstanceSet(ctx, held.ID); err != nil {
		panic(err)
	}
	fmt.Println(svc.DeleteInstance(ctx, held.InstanceIDs[0]))
	// Output:
	// 1 of 2 of ann's sets
	// conflict
	// <nil>
}
