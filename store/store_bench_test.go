package store_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
)

// The store benchmarks run on the package's private Redis (TestMain in
// main_test.go). Besides ns/op they report:
//
//	rt/op        client round trips (a pipeline counts as one)
//	redis-µs/op  CPU time redis-server spent per op (INFO cpu; absent on miniredis)
//
// ns/op is one caller's wall time per op (a round trip plus the script);
// redis-µs/op is what bounds throughput once the clients have CPUs to spare,
// since Redis runs scripts on one thread.

// BenchmarkCreateStartFinish is the record's whole life for one async
// execution: create (queued), start (running, returns record and input),
// finish (succeeded, with a small solution). The sub-benchmarks time each
// step alone.
func BenchmarkCreateStartFinish(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	input := json.RawMessage(`{"items":[1,2,3]}`)
	sol := json.RawMessage(`{"x":[1,0,1]}`)
	newExec := func() *job.Execution {
		return &job.Execution{ID: uuid.Must(uuid.NewV7()).String(), JobType: "noop", Kind: job.KindAsync,
			Queue: "default", Config: json.RawMessage(`{}`), MaxRetries: 3, CreatedAt: now}
	}
	outcome := store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal, Solution: sol, Objective: job.Float(2)}

	b.Run("all", func(b *testing.B) {
		s, m := benchStore(b)
		m.start(b)
		for b.Loop() {
			e := newExec()
			if err := s.Create(ctx, e, input); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Start(ctx, e.ID, 1, "w1", now); err != nil {
				b.Fatal(err)
			}
			if ok, err := s.Finish(ctx, e.ID, 1, outcome, now); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		m.stop(b)
	})
	b.Run("create", func(b *testing.B) {
		s, m := benchStore(b)
		m.start(b)
		for b.Loop() {
			if err := s.Create(ctx, newExec(), input); err != nil {
				b.Fatal(err)
			}
		}
		m.stop(b)
	})
	// start and finish need records in the right state: make them first,
	// outside the timer, with room for as many iterations as b.Loop runs.
	prepare := func(b *testing.B, s *store.Store, n int, started bool) []string {
		ids := make([]string, n)
		for i := range ids {
			e := newExec()
			if err := s.Create(ctx, e, input); err != nil {
				b.Fatal(err)
			}
			if started {
				if _, err := s.Start(ctx, e.ID, 1, "w1", now); err != nil {
					b.Fatal(err)
				}
			}
			ids[i] = e.ID
		}
		return ids
	}
	b.Run("start", func(b *testing.B) {
		s, m := benchStore(b)
		ids := prepare(b, s, b.N, false)
		m.start(b)
		i := 0
		for b.Loop() {
			if _, err := s.Start(ctx, ids[i%len(ids)], 1, "w1", now); err != nil && i < len(ids) {
				b.Fatal(err)
			}
			i++
		}
		m.stop(b)
	})
	b.Run("finish", func(b *testing.B) {
		s, m := benchStore(b)
		ids := prepare(b, s, b.N, true)
		m.start(b)
		i := 0
		for b.Loop() {
			if ok, err := s.Finish(ctx, ids[i%len(ids)], 1, outcome, now); err != nil || (!ok && i < len(ids)) {
				b.Fatal(ok, err)
			}
			i++
		}
		m.stop(b)
	})
	b.Run("get", func(b *testing.B) {
		s, m := benchStore(b)
		ids := prepare(b, s, 100, true)
		m.start(b)
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		m.stop(b)
	})
}

// BenchmarkCreateStartFinishParallel runs the same life cycle from 16
// goroutines at once: the figure that matters for throughput.
func BenchmarkCreateStartFinishParallel(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	input := json.RawMessage(`{"items":[1,2,3]}`)
	outcome := store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal, Solution: json.RawMessage(`{"x":1}`)}
	s, m := benchStore(b)
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	m.start(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := &job.Execution{ID: uuid.Must(uuid.NewV7()).String(), JobType: "noop", Kind: job.KindAsync,
				Queue: "default", Config: json.RawMessage(`{}`), CreatedAt: now}
			if err := s.Create(ctx, e, input); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Start(ctx, e.ID, 1, "w1", now); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Finish(ctx, e.ID, 1, outcome, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
	m.stop(b)
}

// benchStore returns a store on a fresh database with a round-trip meter.
func benchStore(b *testing.B) (*store.Store, *meter) {
	b.Helper()
	c := redistest.Client(b)
	m := &meter{rdb: c}
	c.AddHook(m)
	return store.New(c, store.Options{}), m
}

// meter counts round trips and reads redis-server's CPU time around the
// timed loop.
type meter struct {
	rdb    *redis.Client
	on     atomic.Bool
	trips  atomic.Int64
	cpu0   float64
	hasCPU bool
}

func (m *meter) start(b *testing.B) {
	m.cpu0, m.hasCPU = redisCPU(m.rdb)
	m.trips.Store(0)
	m.on.Store(true)
	b.ResetTimer()
}

func (m *meter) stop(b *testing.B) {
	b.StopTimer()
	m.on.Store(false)
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(m.trips.Load())/float64(b.N), "rt/op")
	if cpu1, ok := redisCPU(m.rdb); ok && m.hasCPU {
		b.ReportMetric((cpu1-m.cpu0)*1e6/float64(b.N), "redis-µs/op")
	}
}

func (m *meter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (m *meter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if m.on.Load() {
			m.trips.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (m *meter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if m.on.Load() {
			m.trips.Add(1)
		}
		return next(ctx, cmds)
	}
}

// redisCPU returns redis-server's used CPU seconds (user+sys), or false on
// servers without INFO cpu (miniredis).
func redisCPU(c *redis.Client) (float64, bool) {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				sum, found = sum+f, true
			}
		}
	}
	return sum, found
}
