// Command worker is a worker-only process: it registers the job types and
// runs Work against a shared Redis, while API processes (with the same job
// types registered) accept submissions elsewhere.
//
//	go run ./examples/worker -redis redis://localhost:6379/0
//
// Without -redis it runs on the embedded in-memory Redis, submits one
// execution to itself so that there is something to do, and with -smoke
// exits once it has finished.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// primes counts the primes below the instance's "below", reporting
// progress; it stands in for any CPU-bound solver.
func primes() *job.Definition {
	type in struct {
		Below int `json:"below" validate:"gte=2,lte=100000000"`
	}
	return job.AsyncOf("primes", func(ctx context.Context, jc *job.Context, p in) (map[string]int, error) {
		sieve := make([]bool, p.Below)
		count := 0
		for i := 2; i < p.Below; i++ {
			if i%100000 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				jc.Progress(float64(i)/float64(p.Below), "sieving")
			}
			if sieve[i] {
				continue
			}
			count++
			for j := i * i; j < p.Below; j += i {
				sieve[j] = true
			}
		}
		jc.Logger.Info("sieved", "below", p.Below, "primes", count)
		return map[string]int{"primes": count}, nil
	}, job.WithDescription("counts primes with a sieve"),
		job.WithInstanceSchema([]byte(`{"type":"object","required":["below"],"properties":{"below":{"type":"integer"}}}`)))
}

func main() {
	url := flag.String("redis", os.Getenv("SOLVEKIT_REDIS_URL"), "Redis URL shared with the API processes (empty: embedded)")
	concurrency := flag.Int("concurrency", 0, "attempts run at once (0: number of CPUs)")
	smoke := flag.Bool("smoke", false, "embedded mode: exit after the self-submitted execution finishes")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	svc, err := solvekit.New(context.Background(), solvekit.Config{RedisURL: *url, Concurrency: *concurrency, Logger: logger})
	if err != nil {
		logger.Error("start", "err", err)
		os.Exit(1)
	}
	defer svc.Close()
	if err := svc.Register(primes()); err != nil {
		logger.Error("register", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if svc.Embedded() {
		// Nobody else can reach an embedded Redis: give ourselves work.
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "primes", Instance: json.RawMessage(`{"below":2000000}`)})
		if err != nil {
			logger.Error("submit", "err", err)
			os.Exit(1)
		}
		go func() {
			e, err := svc.Wait(ctx, e.ID)
			if err != nil {
				return
			}
			sol, _ := svc.Solution(ctx, e.ID)
			fmt.Printf("execution %s %s: %s\n", e.ID, e.State, sol)
			if *smoke {
				stop()
			}
		}()
	}
	logger.Info("worker running; Ctrl-C to stop", "worker", svc.WorkerID())
	start := time.Now()
	if err := svc.Work(ctx); err != nil {
		logger.Error("work", "err", err)
		os.Exit(1)
	}
	logger.Info("worker stopped", "uptime", time.Since(start).Round(time.Millisecond).String())
}
