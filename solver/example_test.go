package solver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// Item and Knapsack are the instance; Packing is the solution.
type Item struct {
	Name          string
	Weight, Value float64
}

type Knapsack struct {
	Capacity float64
	Items    []Item
}

type Packing struct{ Items []string }

// greedy packs items by value per weight: a ~30-line plugin.
func greedy(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var k Knapsack
	if err := in.DecodeInstance(&k); err != nil {
		return nil, err
	}
	items := append([]Item(nil), k.Items...)
	sort.Slice(items, func(i, j int) bool { return items[i].Value/items[i].Weight > items[j].Value/items[j].Weight })
	var p Packing
	load, value := 0.0, 0.0
	for i, it := range items {
		if ctx.Err() != nil {
			break // stopped: the App keeps the last incumbent
		}
		if load+it.Weight <= k.Capacity {
			p.Items = append(p.Items, it.Name)
			load, value = load+it.Weight, value+it.Value
			_ = in.Incumbent(p, value)
		}
		in.Log.Progress(solver.ProgressRow{Node: int64(i + 1), BestInteger: job.Float(value)})
	}
	return &job.Result{Solution: p, Status: job.StatusFeasible, Objective: job.Float(value)}, nil
}

func Example() {
	app := &solver.App{
		Name:    "knapsack",
		Solvers: map[string]solver.Solver{"greedy": solver.SolverFunc(greedy)},
		InstanceChecks: []solver.Check{solver.InstanceCheck("positive_weights", func(k Knapsack) (msgs []string) {
			for _, it := range k.Items {
				if it.Weight <= 0 {
					msgs = append(msgs, it.Name+" has no weight")
				}
			}
			return msgs
		})},
		KPIs: []solver.KPI{solver.KPIOf("items", func(_ Knapsack, p Packing) float64 { return float64(len(p.Items)) })},
	}
	def := app.Definition() // register this with solvekit

	// Run it the way a worker does.
	instance := `{"Capacity": 10, "Items": [
		{"Name": "tent", "Weight": 6, "Value": 30},
		{"Name": "stove", "Weight": 3, "Value": 14},
		{"Name": "book", "Weight": 4, "Value": 10}]}`
	out, err := def.Func(context.Background(), &job.Context{Instance: json.RawMessage(instance)})
	if err != nil {
		fmt.Println(err)
		return
	}
	res := out.(*job.Result)
	sol, _ := json.Marshal(res.Solution)
	fmt.Println(def.Name, def.Kind, def.Solvers, def.DefaultSolver)
	fmt.Println(res.Status, *res.Objective, string(sol))
	fmt.Println("kpis:", res.KPIs)
	fmt.Println("log:", res.SolverLog["status_code"], res.SolverLog["nodes"], len(res.SolverLog["progress"].([]any)))
	// Output:
	// knapsack async [greedy] greedy
	// feasible 44 {"Items":["tent","stove"]}
	// kpis: map[items:2]
	// log: 2 3 3
}
