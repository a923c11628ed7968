// Command knapsack shows a pure Go solver plugin (a solver.App) on the
// embedded in-memory Redis, with a worker in the same process:
//
//  1. a small instance solved by both solvers, "greedy" and "bb" (branch
//     and bound), with their instance checks, solution checks and KPIs;
//  2. an instance the branch and bound needs a long time for, stopped
//     mid-solve with Cancel: the execution is stopped and keeps its best
//     incumbent as solution;
//  3. the same instance with a config time limit of one second: the
//     search stops at its limit and the execution succeeds with solver
//     status time_limit and the incumbent;
//  4. an instance whose checks fail: refused before the solve;
//  5. an experiment comparing both solvers over generated instances
//     (docs/experiments.md).
//
// Run it with:
//
//	go run ./examples/knapsack
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/examples/internal/scaffold"
	"github.com/solvekit/solvekit/job"
)

func main() { scaffold.Main("knapsack", 50*time.Second, run) }

func run(ctx context.Context) error {
	// A Service on the embedded in-memory Redis, with a worker.
	svc, stop, err := scaffold.Start(ctx, true, knapsackApp().Definition())
	if err != nil {
		return err
	}
	defer stop()

	fmt.Println("== 1. a small instance, both solvers")
	small := json.RawMessage(`{"capacity": 10, "items": [
		{"name": "map", "weight": 5, "value": 10},
		{"name": "compass", "weight": 4, "value": 40},
		{"name": "water", "weight": 6, "value": 30},
		{"name": "sandwich", "weight": 3, "value": 50},
		{"name": "piano", "weight": 300, "value": 1}]}`)
	for _, name := range []string{"greedy", "bb"} {
		e, err := submitAndWait(ctx, svc, solvekit.SubmitRequest{JobType: "knapsack", Instance: small, Solver: name})
		if err != nil {
			return err
		}
		if err := report(ctx, svc, e, 3); err != nil {
			return err
		}
	}

	hard := hardInstance(120, 7)

	fmt.Println("\n== 2. stop mid-solve (Cancel) keeps the incumbent")
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "knapsack", Instance: hard})
	if err != nil {
		return err
	}
	if err := waitForIncumbent(ctx, svc, e.ID); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // let it improve a little
	running, _ := svc.Get(ctx, e.ID)
	fmt.Printf("running   incumbent objective %v; cancelling\n", scaffold.Val(running.Objective, "%g"))
	if err := svc.Cancel(ctx, e.ID); errors.Is(err, job.ErrConflict) {
		fmt.Println("          (it finished before the stop arrived)")
	} else if err != nil {
		return err
	}
	if e, err = svc.Wait(ctx, e.ID); err != nil {
		return err
	}
	if err := report(ctx, svc, e, 4); err != nil {
		return err
	}

	fmt.Println("\n== 3. config time_limit 1s → succeeded, status time_limit, with the incumbent")
	start := time.Now()
	e, err = submitAndWait(ctx, svc, solvekit.SubmitRequest{JobType: "knapsack", Instance: hard,
		Config: json.RawMessage(`{"solver": "bb", "time_limit": 1}`)})
	if err != nil {
		return err
	}
	fmt.Printf("finished after %.1fs\n", time.Since(start).Seconds())
	if err := report(ctx, svc, e, 4); err != nil {
		return err
	}

	fmt.Println("\n== 4. an instance whose checks fail is refused before the solve")
	e, err = submitAndWait(ctx, svc, solvekit.SubmitRequest{JobType: "knapsack",
		Instance: json.RawMessage(`{"capacity": 5, "items": [{"name": "ghost", "weight": 0, "value": 9}]}`)})
	if err != nil {
		return err
	}
	fmt.Printf("%-9s %s: %s\n", e.State, e.Error.Kind, e.Error.Message)
	// The details are the check findings; read them back as CheckResults.
	var findings []job.CheckResult
	b, _ := json.Marshal(e.Error.Details)
	_ = json.Unmarshal(b, &findings)
	for _, c := range findings {
		fmt.Printf("          check %s/%s (warning=%t): %s\n", c.Stage, c.Name, c.IsWarning, c.Message)
	}
	return experimentSection(ctx, svc) // experiment.go
}

func submitAndWait(ctx context.Context, svc *solvekit.Service, req solvekit.SubmitRequest) (*job.Execution, error) {
	e, err := svc.Submit(ctx, req)
	if err != nil {
		return nil, err
	}
	return svc.Wait(ctx, e.ID)
}

// waitForIncumbent polls until the execution has stored an incumbent.
func waitForIncumbent(ctx context.Context, svc *solvekit.Service, id string) error {
	for {
		e, err := svc.Get(ctx, id)
		if err != nil {
			return err
		}
		if e.State.Terminal() {
			return fmt.Errorf("execution %s ended (%s) before it published an incumbent", id, e.State)
		}
		if e.State == job.StateRunning && e.Objective != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// report prints an execution's outcome, solution summary, checks, KPIs and
// its first log lines.
func report(ctx context.Context, svc *solvekit.Service, e *job.Execution, logLines int) error {
	fmt.Printf("%-6s    state=%s solver_status=%s objective=%v bound=%v (%s)\n", e.Solver, e.State, e.SolverStatus, scaffold.Val(e.Objective, "%g"), scaffold.Val(e.BestBound, "%g"), took(e))
	if e.Error != nil {
		fmt.Printf("          error %s: %s\n", e.Error.Kind, e.Error.Message)
	}
	if e.HasSolution {
		s, err := scaffold.Solution[Solution](ctx, svc, e.ID)
		if err != nil {
			return err
		}
		items := s.Items
		if len(items) > 6 {
			items = append(items[:6:6], fmt.Sprintf("… %d more", len(s.Items)-6))
		}
		fmt.Printf("          solution value=%d weight=%d items=[%s]\n", s.Value, s.Weight, strings.Join(items, " "))
	}
	for _, c := range e.Checks {
		kind := "error"
		if c.IsWarning {
			kind = "warning"
		}
		fmt.Printf("          check %s/%s (%s): %s\n", c.Stage, c.Name, kind, c.Message)
	}
	if len(e.KPIs) > 0 {
		fmt.Printf("          kpis%s\n", scaffold.Pairs(e.KPIs))
	}
	if e.SolverLog != nil {
		fmt.Printf("          log_json%s\n", scaffold.Pairs(map[string]any{"status_code": e.SolverLog["status_code"],
			"nodes": e.SolverLog["nodes"], "gap": e.SolverLog["gap"], "best_bound": e.SolverLog["best_bound"]}))
	}
	return scaffold.Logs(ctx, svc, e.ID, logLines, "          ")
}

// hardInstance is a strongly correlated knapsack (value = weight + 30),
// the classic hard case for branch and bound with the LP bound.
func hardInstance(n int, seed uint64) json.RawMessage {
	r := rand.New(rand.NewPCG(seed, 2024))
	inst := Instance{}
	total := 0
	for i := range n {
		w := 1 + r.IntN(300)
		inst.Items = append(inst.Items, Item{Name: fmt.Sprintf("item%03d", i), Weight: w, Value: w + 30})
		total += w
	}
	inst.Capacity = total / 2
	b, _ := json.Marshal(inst)
	return b
}

// took is how long the execution took from submit to its end.
func took(e *job.Execution) string {
	if e.FinishedAt == nil {
		return "unfinished"
	}
	return e.FinishedAt.Sub(e.CreatedAt).Round(time.Millisecond).String()
}
