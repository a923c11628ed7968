package solvekit_test

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

// Benchmarks of the Service on the package's private Redis (TestMain in
// setup_test.go). They report rt/op, the client round trips per operation
// (a pipeline counts as one), besides ns/op. The side-by-side comparison
// with raw asynq is the program in ./bench.

var noopDef = func() *job.Definition {
	return job.Async("noop", func(context.Context, *job.Context) (any, error) { return nil, nil })
}

var noopReq = solvekit.SubmitRequest{JobType: "noop", Instance: json.RawMessage(`{}`)}

// BenchmarkSubmit times Submit of an async job alone (validate, write the
// record, enqueue), with no worker running.
func BenchmarkSubmit(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		bb, m := setupBench(b, setupOpts{noWork: true, defs: []*job.Definition{noopDef()}})
		ctx := context.Background()
		m.Start(b)
		for b.Loop() {
			if _, err := bb.svc.Submit(ctx, noopReq); err != nil {
				b.Fatal(err)
			}
		}
		m.Stop(b)
	})
	b.Run("parallel16", func(b *testing.B) {
		bb, m := setupBench(b, setupOpts{noWork: true, defs: []*job.Definition{noopDef()}})
		ctx := context.Background()
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		m.Start(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := bb.svc.Submit(ctx, noopReq); err != nil {
					b.Error(err)
					return
				}
			}
		})
		m.Stop(b)
	})
}

// BenchmarkEndToEnd submits a no-op job and waits for its terminal record,
// with a worker (concurrency 16, default TaskCheckInterval) in the same
// process. serial: ns/op is the full latency of one job through an idle
// worker (pickup polling included). parallel16: 16 callers at once, so
// ns/op is the inverse of throughput.
func BenchmarkEndToEnd(b *testing.B) {
	run := func(b *testing.B, parallel bool) {
		bb, m := setupBench(b, setupOpts{cfg: solvekit.Config{Concurrency: 16}, defs: []*job.Definition{noopDef()}})
		ctx := context.Background()
		one := func() error {
			e, err := bb.svc.Submit(ctx, noopReq)
			if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			got, err := bb.svc.Wait(wctx, e.ID)
			if err == nil && got.State != job.StateSucceeded {
				b.Errorf("execution %s is %s", e.ID, got.State)
			}
			return err
		}
		if err := one(); err != nil { // warm up the worker
			b.Fatal(err)
		}
		m.Start(b)
		if !parallel {
			for b.Loop() {
				if err := one(); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := one(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		m.Stop(b)
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel16", func(b *testing.B) { run(b, true) })
}

// setupBench is setup for benchmarks, with a round-trip meter hooked
// into the Service's client before anything uses it.
func setupBench(b *testing.B, o setupOpts) (*bundle, *redistest.Meter) {
	b.Helper()
	m := &redistest.Meter{}
	o.hook = m
	return setup(b, o), m
}
