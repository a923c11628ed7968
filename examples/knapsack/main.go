// Command knapsack shows a pure Go solver plugin (a solver.App) on the
// embedded in-memory Redis, with a worker in the same process:
//
//  1. a small instance solved by both solvers, "greedy" and "bb" (branch
//     and bound), with their instance checks, solution checks and KPIs;
//  2. an instance the branch and bound needs a long time for, stopped
//     mid-solve with Cancel: the execution is stopped and keeps its best
//     incumbent as solution;
//  3. the same instance with a config time limit of one second: the
//     execution times out with solver status time_limit and the incumbent;
//  4. an instance whose checks fail: refused before the solve.
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
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "knapsack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// The zero Config runs on an embedded in-memory Redis.
	svc, err := solvekit.New(solvekit.Config{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Register(knapsackApp().Definition()); err != nil {
		return err
	}
	workCtx, stopWork := context.WithCancel(ctx)
	workDone := make(chan error, 1)
	go func() { workDone <- svc.Work(workCtx) }()
	defer func() { stopWork(); <-workDone }()

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
	fmt.Printf("running   incumbent objective %v; cancelling\n", val(running.Objective))
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

	fmt.Println("\n== 3. config time_limit 1s → timed_out with the incumbent")
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
	return nil
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
	fmt.Printf("%-6s    state=%s solver_status=%s objective=%v bound=%v (%s)\n", e.Solver, e.State, e.SolverStatus, val(e.Objective), val(e.BestBound), took(e))
	if e.Error != nil {
		fmt.Printf("          error %s: %s\n", e.Error.Kind, e.Error.Message)
	}
	if e.HasSolution {
		raw, err := svc.Solution(ctx, e.ID)
		if err != nil {
			return err
		}
		var s Solution
		if err := json.Unmarshal(raw, &s); err != nil {
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
		keys := make([]string, 0, len(e.KPIs))
		for k := range e.KPIs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%g", k, e.KPIs[k])
		}
		fmt.Printf("          kpis%s\n", b.String())
	}
	if e.SolverLog != nil {
		fmt.Printf("          log_json%s\n", attrs(map[string]any{"status_code": e.SolverLog["status_code"],
			"nodes": e.SolverLog["nodes"], "gap": e.SolverLog["gap"], "best_bound": e.SolverLog["best_bound"]}))
	}
	logs, err := svc.Logs(ctx, e.ID, "", logLines)
	if err != nil {
		return err
	}
	for _, l := range logs {
		fmt.Printf("          log %-5s %s%s\n", l.Level, l.Message, attrs(l.Attrs))
	}
	return nil
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

func val(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%g", *p)
}

func attrs(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := m[k]
		if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1e15 {
			v = int64(f) // JSON numbers come back as float64
		}
		fmt.Fprintf(&b, " %s=%v", k, v)
	}
	return b.String()
}
