// Command tsp runs a local-search TSP heuristic as a solver.App on the
// embedded in-memory Redis, with a worker in the same process:
//
//  1. the nearest neighbour baseline ("nn"), which finishes at once;
//  2. the iterated local search ("ils") with a 3 s execution timeout: it
//     publishes incumbents and progress while it runs (printed as they
//     arrive) and ends timed_out, solver status time_limit, with its best
//     tour;
//  3. the same search stopped with Cancel after a second: stopped, with
//     the best tour so far.
//
// Run it with:
//
//	go run ./examples/tsp [-n 300] [-seed 1] [-limit 3s]
package main

import (
	"context"
	"encoding/json"
	"flag"
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
	n := flag.Int("n", 300, "number of random points")
	seed := flag.Uint64("seed", 1, "seed of the random points and of the search")
	limit := flag.Duration("limit", 3*time.Second, "time limit of the timed run")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := run(ctx, *n, *seed, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "tsp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, seed uint64, limit time.Duration) error {
	svc, err := solvekit.New(solvekit.Config{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Register(tspApp().Definition()); err != nil {
		return err
	}
	workCtx, stopWork := context.WithCancel(ctx)
	workDone := make(chan error, 1)
	go func() { workDone <- svc.Work(workCtx) }()
	defer func() { stopWork(); <-workDone }()

	instance := randomPoints(n, seed)
	config := json.RawMessage(fmt.Sprintf(`{"seed": %d}`, seed))
	fmt.Printf("%d random points in a 1000 x 1000 square, seed %d\n", n, seed)

	fmt.Println("\n== 1. nearest neighbour")
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "tsp", Instance: instance, Config: config, Solver: "nn"})
	if err != nil {
		return err
	}
	if e, err = svc.Wait(ctx, e.ID); err != nil {
		return err
	}
	if err := report(ctx, svc, e, 1); err != nil {
		return err
	}

	fmt.Printf("\n== 2. iterated local search, execution timeout %s\n", limit)
	e, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "tsp", Instance: instance, Config: config, Timeout: limit})
	if err != nil {
		return err
	}
	if e, err = watch(ctx, svc, e.ID, 0); err != nil {
		return err
	}
	if err := report(ctx, svc, e, 2); err != nil {
		return err
	}

	fmt.Println("\n== 3. iterated local search, stopped with Cancel after 1s")
	e, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "tsp", Instance: instance, Config: config})
	if err != nil {
		return err
	}
	if e, err = watch(ctx, svc, e.ID, time.Second); err != nil {
		return err
	}
	return report(ctx, svc, e, 2)
}

// watch prints the execution's progress and incumbent objective as they
// change, cancels it after stopAfter (if not 0) and returns its final
// record.
func watch(ctx context.Context, svc *solvekit.Service, id string, stopAfter time.Duration) (*job.Execution, error) {
	start := time.Now()
	cancelled := false
	last := ""
	for {
		e, err := svc.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if e.State.Terminal() {
			return e, nil
		}
		if e.State == job.StateRunning {
			pct := "   -" // no time limit: no fraction to report
			if e.Progress > 0 {
				pct = fmt.Sprintf("%3.0f%%", 100*e.Progress)
			}
			line := fmt.Sprintf("%s  %s  incumbent=%s", pct, e.ProgressMsg, val(e.Objective))
			if line != last {
				fmt.Printf("  %5.2fs  %s\n", time.Since(start).Seconds(), line)
				last = line
			}
		}
		if stopAfter > 0 && !cancelled && time.Since(start) >= stopAfter {
			fmt.Printf("  %5.2fs  Cancel\n", time.Since(start).Seconds())
			if err := svc.Cancel(ctx, id); err != nil {
				return nil, err
			}
			cancelled = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func report(ctx context.Context, svc *solvekit.Service, e *job.Execution, logLines int) error {
	fmt.Printf("%-4s  state=%s solver_status=%s length=%s\n", e.Solver, e.State, e.SolverStatus, val(e.Objective))
	if e.Error != nil {
		return fmt.Errorf("execution failed: %s: %s", e.Error.Kind, e.Error.Message)
	}
	raw, err := svc.Solution(ctx, e.ID)
	if err != nil {
		return err
	}
	var t Tour
	if err := json.Unmarshal(raw, &t); err != nil {
		return err
	}
	head := make([]string, 0, 12)
	for _, c := range t.Tour[:min(10, len(t.Tour))] {
		head = append(head, fmt.Sprint(c))
	}
	fmt.Printf("      tour %s … (%d points), length %.1f\n", strings.Join(head, " "), len(t.Tour), t.Length)
	for _, c := range e.Checks {
		fmt.Printf("      check %s/%s warning=%t: %s\n", c.Stage, c.Name, c.IsWarning, c.Message)
	}
	fmt.Printf("      kpis length=%.1f gain_over_nn_pct=%.1f; log_json status_code=%v",
		e.KPIs["length"], e.KPIs["gain_over_nn_pct"], e.SolverLog["status_code"])
	if it, ok := e.Stats["iterations"]; ok {
		fmt.Printf(" iterations=%v", it)
	}
	fmt.Println()
	logs, err := svc.Logs(ctx, e.ID, "", 1000)
	if err != nil {
		return err
	}
	// The first and the last lines of the execution log.
	for i, l := range logs {
		if len(logs) > 2*logLines && i == logLines {
			fmt.Printf("      log … %d more\n", len(logs)-2*logLines)
		}
		if i < logLines || i >= len(logs)-logLines {
			fmt.Printf("      log %s %s%s\n", l.Level, l.Message, attrs(l.Attrs))
		}
	}
	return nil
}

// randomPoints is the instance: n points uniform in a 1000 x 1000 square.
func randomPoints(n int, seed uint64) json.RawMessage {
	r := rand.New(rand.NewPCG(seed, 99))
	inst := Instance{Points: make([][2]float64, n)}
	for i := range inst.Points {
		inst.Points[i] = [2]float64{math.Round(r.Float64() * 1000), math.Round(r.Float64() * 1000)}
	}
	b, _ := json.Marshal(inst)
	return b
}

func val(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *p)
}

func attrs(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return b.String()
}
