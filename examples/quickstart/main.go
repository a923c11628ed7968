// Command quickstart shows solvekit end to end on the embedded in-memory
// Redis: it registers a knapsack solver (async, branch and bound with
// incumbents) and an echo job (sync), submits a few executions, prints
// their states, solutions and logs, and then serves the REST API.
//
//	go run ./examples/quickstart                  # demo, then serve on :8080
//	go run ./examples/quickstart -addr :9090      # demo, then serve on :9090
//	go run ./examples/quickstart -demo            # demo only, then exit
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/examples/internal/scaffold"
	"github.com/solvekit/solvekit/job"
)

// serveFunc mounts the REST API (serve.go); nil when it is not built in.
var serveFunc func(ctx context.Context, svc *solvekit.Service, addr string, w io.Writer) error

func main() {
	demoOnly := flag.Bool("demo", false, "run the demo and exit instead of serving the API")
	addr := flag.String("addr", ":8080", "address to serve the REST API on after the demo")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, logger, *demoOnly, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, demoOnly bool, addr string) (err error) {
	// No Redis configured: solvekit starts an embedded one.
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: logger})
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Register(knapsackJob(), echoJob()); err != nil {
		return err
	}
	workCtx, stopWork := context.WithCancel(context.Background())
	workDone := make(chan error, 1)
	go func() { workDone <- svc.Work(workCtx) }()
	defer func() {
		stopWork()
		if werr := <-workDone; werr != nil && err == nil {
			err = fmt.Errorf("worker: %w", werr)
		}
	}()

	if err := demo(ctx, svc); err != nil {
		return err
	}
	if demoOnly {
		return nil
	}
	if serveFunc == nil {
		return errors.New("this build has no REST server")
	}
	return serveFunc(ctx, svc, addr, os.Stdout)
}

func demo(ctx context.Context, svc *solvekit.Service) error {
	// 1. A sync job answers inside Submit.
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"message":"hello, solver"}`)})
	if err != nil {
		return err
	}
	sol, _ := svc.Solution(ctx, e.ID)
	fmt.Printf("echo      %s  %-9s solution=%s\n", short(e.ID), e.State, sol)

	// 2. Invalid input is refused with every violation; nothing is stored.
	_, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "knapsack",
		Instance: json.RawMessage(`{"capacity":-1,"items":[{"name":"a","weight":0,"value":3}]}`),
		Config:   json.RawMessage(`{"node_limit":"many"}`)})
	var je *job.Error
	if !errors.As(err, &je) {
		return fmt.Errorf("expected a validation error, got %v", err)
	}
	fmt.Printf("invalid   refused: %s\n", je.Message)
	for _, v := range je.Violations {
		fmt.Printf("          %-26s %-9s %s\n", v.Pointer, v.Keyword, v.Message)
	}

	// 3. Async knapsack executions run on the worker.
	instances := []json.RawMessage{
		json.RawMessage(`{"capacity":10,"items":[{"name":"map","weight":5,"value":10},{"name":"compass","weight":4,"value":40},{"name":"water","weight":6,"value":30},{"name":"sandwich","weight":3,"value":50}]}`),
		randomInstance(40, 1),
		randomInstance(400, 2),
	}
	var ids []string
	for _, in := range instances {
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "knapsack", Instance: in,
			Metadata: map[string]string{"demo": "quickstart"}, Timeout: 2 * time.Second})
		if err != nil {
			return err
		}
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		e, err := svc.Wait(wctx, id)
		cancel()
		if err != nil {
			return err
		}
		sol, _ := svc.Solution(ctx, id)
		var s struct {
			Items  []string `json:"items"`
			Value  int      `json:"value"`
			Weight int      `json:"weight"`
		}
		_ = json.Unmarshal(sol, &s)
		fmt.Printf("knapsack  %s  %-9s %-10s value=%d weight=%d items=%d attempt=%d\n",
			short(id), e.State, e.SolverStatus, s.Value, s.Weight, len(s.Items), e.Attempt)
		if err := scaffold.Logs(ctx, svc, id, 5, "          "); err != nil {
			return err
		}
	}
	return nil
}

func randomInstance(n int, seed uint64) json.RawMessage {
	r := rand.New(rand.NewPCG(seed, 42))
	type item struct {
		Name   string `json:"name"`
		Weight int    `json:"weight"`
		Value  int    `json:"value"`
	}
	in := struct {
		Capacity int    `json:"capacity"`
		Items    []item `json:"items"`
	}{}
	total := 0
	for i := 0; i < n; i++ {
		w := 10 + r.IntN(90)
		in.Items = append(in.Items, item{Name: fmt.Sprintf("item%03d", i), Weight: w, Value: w + r.IntN(20)})
		total += w
	}
	in.Capacity = total / 2
	b, _ := json.Marshal(in)
	return b
}

func short(id string) string { return id[len(id)-8:] }
