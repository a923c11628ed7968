package solvekit_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
		m.start(b)
		for b.Loop() {
			if _, err := bb.svc.Submit(ctx, noopReq); err != nil {
				b.Fatal(err)
			}
		}
		m.stop(b)
	})
	b.Run("parallel16", func(b *testing.B) {
		bb, m := setupBench(b, setupOpts{noWork: true, defs: []*job.Definition{noopDef()}})
		ctx := context.Background()
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		m.start(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := bb.svc.Submit(ctx, noopReq); err != nil {
					b.Error(err)
					return
				}
			}
		})
		m.stop(b)
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
		m.start(b)
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
		m.stop(b)
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel16", func(b *testing.B) { run(b, true) })
}

// setupBench is setup for benchmarks: a Service (and, unless noWork, a
// worker) on a fresh database of the package's private Redis, with a
// round-trip meter hooked into its client before anything uses it.
func setupBench(b *testing.B, o setupOpts) (*bundle, *rtMeter) {
	b.Helper()
	srv := redistest.Current(b)
	db := srv.DB(b)
	rdb := redis.NewClient(srv.Options(db))
	m := &rtMeter{}
	rdb.AddHook(m)
	cfg := o.cfg
	cfg.Redis = rdb
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	svc, err := solvekit.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Register(o.defs...); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if !o.noWork {
		go func() { defer close(done); _ = svc.Work(ctx) }()
	} else {
		close(done)
	}
	b.Cleanup(func() {
		cancel()
		<-done
		if err := svc.Close(); err != nil {
			b.Error(err)
		}
		_ = rdb.Close()
	})
	return &bundle{svc: svc, rdb: rdb, url: srv.URL(db), db: db}, m
}

// rtMeter counts client round trips while on.
type rtMeter struct {
	on    atomic.Bool
	trips atomic.Int64
}

func (m *rtMeter) start(b *testing.B) {
	m.trips.Store(0)
	m.on.Store(true)
	b.ResetTimer()
}

func (m *rtMeter) stop(b *testing.B) {
	b.StopTimer()
	m.on.Store(false)
	if b.N > 0 {
		b.ReportMetric(float64(m.trips.Load())/float64(b.N), "rt/op")
	}
}

func (m *rtMeter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (m *rtMeter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if m.on.Load() {
			m.trips.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (m *rtMeter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if m.on.Load() {
			m.trips.Add(1)
		}
		return next(ctx, cmds)
	}
}
