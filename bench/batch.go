package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

// runBatchMode (-mode batch) measures Service.SubmitMany against Submit:
// -n executions stored (queued, nobody works them) each way on fresh
// databases of a private redis-server, and prints the submit rate and the
// CPU per execution of this process and of redis-server:
//
//   - Submit, one caller: one round trip per execution;
//   - Submit, -c concurrent callers: the store pipelines their scripts;
//   - SubmitMany, batches of 100 from one caller: one script per batch.
//
// The ratios are SubmitMany's rate over each Submit figure. -cpuprofile
// and -memprofile profile the SubmitMany way.
func runBatchMode(o options, srv *redistest.Server) (int, error) {
	n := o.n
	fmt.Printf("submit rate, %d executions per way, private redis-server %s\n", n, srv.Version)
	instance := []byte(`{"values":[1,2,3]}`)
	req := solvekit.SubmitRequest{JobType: "sum", Instance: instance, Owner: "alice"}
	type way struct {
		name string
		run  func(ctx context.Context, svc *solvekit.Service) error
	}
	ways := []way{
		{"Submit, 1 caller", func(ctx context.Context, svc *solvekit.Service) error {
			for i := 0; i < n; i++ {
				if _, err := svc.Submit(ctx, req); err != nil {
					return err
				}
			}
			return nil
		}},
		{fmt.Sprintf("Submit, %d callers", o.submitters), func(ctx context.Context, svc *solvekit.Service) error {
			var wg sync.WaitGroup
			errs := make(chan error, o.submitters)
			for c := 0; c < o.submitters; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for i := c; i < n; i += o.submitters {
						if _, err := svc.Submit(ctx, req); err != nil {
							errs <- err
							return
						}
					}
				}(c)
			}
			wg.Wait()
			close(errs)
			return <-errs
		}},
		{"SubmitMany, batches of 100, 1 caller", func(ctx context.Context, svc *solvekit.Service) error {
			batch := make([]solvekit.SubmitRequest, 100)
			for i := range batch {
				batch[i] = req
			}
			for done := 0; done < n; done += len(batch) {
				if _, err := svc.SubmitMany(ctx, batch[:min(len(batch), n-done)]); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	rates := make([]float64, len(ways))
	for i, w := range ways {
		ctx := context.Background()
		sc := redis.NewClient(srv.Options(2 + i))
		svc, err := solvekit.New(ctx, solvekit.Config{Redis: sc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return 1, err
		}
		if err := svc.Register(job.Async("sum", func(context.Context, *job.Context) (any, error) { return nil, nil })); err != nil {
			return 1, err
		}
		if _, err := svc.Submit(ctx, req); err != nil { // warm up: scripts loaded, connections open
			return 1, err
		}
		stop := func() {}
		if i == len(ways)-1 { // -cpuprofile, -memprofile: of SubmitMany
			if stop, err = startProfiles(o); err != nil {
				return 1, err
			}
		}
		before, start := readCPU(sc), time.Now()
		if err := w.run(ctx, svc); err != nil {
			return 1, fmt.Errorf("%s: %w", w.name, err)
		}
		took := time.Since(start)
		stop()
		used := readCPU(sc).sub(before)
		rates[i] = float64(n) / took.Seconds()
		fmt.Printf("  %-40s %8.0f /s   CPU per execution: process %6.1f µs, redis-server %6.1f µs\n", w.name, rates[i],
			float64(used.proc.Microseconds())/float64(n), float64(used.redis.Microseconds())/float64(n))
		_ = svc.Close()
		_ = sc.Close()
	}
	last := rates[len(rates)-1]
	fmt.Printf("\nSubmitMany (batches of 100) over Submit: %.2f× one caller, %.2f× %d callers (goal ≥ 3×)\n",
		last/rates[0], last/rates[1], o.submitters)
	return 0, nil
}
