package solvekit_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/proccpu"
	"github.com/solvekit/solvekit/job"
)

// BenchmarkEmbeddedJob times no-op jobs, submitted by 16 goroutines
// while a worker drains them, until all are recorded succeeded, on the
// embedded default (solvekit.New with no Redis configured) with 0, 10,000
// and 100,000 other keys stored. The figures should not grow with the
// keys stored. The side-by-side comparison with a real redis-server is
// go run ./bench -mode embedded.
func BenchmarkEmbeddedJob(b *testing.B) {
	for _, stored := range []int{0, 10_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", stored), func(b *testing.B) {
			svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			if err := svc.Register(noopDef()); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pipe := solvekit.RedisOf(svc).Pipeline()
			for i := range stored {
				pipe.HSet(ctx, fmt.Sprintf("filler:%08d", i), "state", "succeeded")
				if i%1000 == 999 || i == stored-1 {
					if _, err := pipe.Exec(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = svc.Work(ctx) }()
			defer func() { cancel(); <-done }()
			// Warm-up: connections open, scripts loaded, worker polling.
			w, err := svc.Submit(ctx, noopReq)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Wait(ctx, w.ID); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := proccpu.Used()
			// Saturated: 16 submitters, the worker draining meanwhile; an
			// op ends when its execution is recorded as succeeded.
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Submit(ctx, noopReq); err != nil {
						b.Error(err)
						return
					}
				}
			})
			deadline := time.Now().Add(5 * time.Minute)
			for {
				counts, err := svc.Counts(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if counts[job.StateSucceeded] == int64(b.N)+1 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d jobs succeeded", counts[job.StateSucceeded]-1, b.N)
				}
				time.Sleep(time.Millisecond)
			}
			// CPU per job (the embedded Redis runs in this process) moves
			// less than ns/op when the machine is shared.
			if cpu1 := proccpu.Used(); cpu0 >= 0 && cpu1 >= 0 {
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			}
		})
	}
}
