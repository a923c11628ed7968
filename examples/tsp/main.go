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
// The points are random (integer coordinates, TSPLIB's EUC_2D distances:
// Euclidean rounded to the nearest integer), or a TSPLIB file's:
//
//	go run ./examples/tsp [-n 300] [-seed 1] [-limit 3s]
//	go run ./examples/tsp -tsplib examples/tsp/testdata/berlin52.tsp   # optimum 7542
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/examples/internal/scaffold"
	"github.com/solvekit/solvekit/job"
)

func main() {
	n := flag.Int("n", 300, "number of random points")
	seed := flag.Uint64("seed", 1, "seed of the random points and of the search")
	limit := flag.Duration("limit", 3*time.Second, "time limit of the timed run")
	tsplib := flag.String("tsplib", "", "a TSPLIB .tsp file (TYPE: TSP, node coordinates) to solve instead of random points")
	flag.Parse()
	scaffold.Main("tsp", 50*time.Second, func(ctx context.Context) error {
		instance, what, err := loadInstance(*tsplib, *n, *seed)
		if err != nil {
			return err
		}
		return run(ctx, instance, what, *seed, *limit)
	})
}

// loadInstance reads the TSPLIB file, or makes n random points.
func loadInstance(path string, n int, seed uint64) (json.RawMessage, string, error) {
	if path == "" {
		return randomPoints(n, seed), fmt.Sprintf("%d random points in a 1000 x 1000 square (EUC_2D), seed %d", n, seed), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	in, err := parseTSPLIB(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	b, err := json.Marshal(in)
	return b, fmt.Sprintf("%s: %d points, %s", path, len(in.Points), in.EdgeWeightType), err
}

func run(ctx context.Context, instance json.RawMessage, what string, seed uint64, limit time.Duration) error {
	// A Service on the embedded in-memory Redis, with a worker.
	svc, stop, err := scaffold.Start(ctx, true, tspDefinition())
	if err != nil {
		return err
	}
	defer stop()

	config := json.RawMessage(fmt.Sprintf(`{"seed": %d}`, seed))
	fmt.Println(what)

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
			line := fmt.Sprintf("%s  %s  incumbent=%s", pct, e.ProgressMsg, scaffold.Val(e.Objective, "%.1f"))
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
	fmt.Printf("%-4s  state=%s solver_status=%s length=%s\n", e.Solver, e.State, e.SolverStatus, scaffold.Val(e.Objective, "%.1f"))
	if e.Error != nil {
		return fmt.Errorf("execution failed: %s: %s", e.Error.Kind, e.Error.Message)
	}
	t, err := scaffold.Solution[Tour](ctx, svc, e.ID)
	if err != nil {
		return err
	}
	head := make([]string, 0, 12)
	for _, c := range t.Tour[:min(10, len(t.Tour))] {
		head = append(head, fmt.Sprint(c))
	}
	fmt.Printf("      tour %s … (%d points), length %g\n", strings.Join(head, " "), len(t.Tour), t.Length)
	for _, c := range e.Checks {
		fmt.Printf("      check %s/%s warning=%t: %s\n", c.Stage, c.Name, c.IsWarning, c.Message)
	}
	fmt.Printf("      kpis length=%g gain_over_nn_pct=%.1f; log_json status_code=%v",
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
			fmt.Printf("      log %s %s%s\n", l.Level, l.Message, scaffold.Pairs(l.Attrs))
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
