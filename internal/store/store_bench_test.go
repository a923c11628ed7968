package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
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
		m.Start(b)
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
		m.Stop(b)
	})
	b.Run("create", func(b *testing.B) {
		s, m := benchStore(b)
		m.Start(b)
		for b.Loop() {
			if err := s.Create(ctx, newExec(), input); err != nil {
				b.Fatal(err)
			}
		}
		m.Stop(b)
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
	// each times op on records made by prepare: as many as b.Loop runs
	// iterations, or n when n > 0 (then used in turn). fresh tells op
	// that its record has not been used yet.
	each := func(name string, started bool, n int, op func(s *store.Store, id string, fresh bool) error) {
		b.Run(name, func(b *testing.B) {
			s, m := benchStore(b)
			count := n
			if count == 0 {
				count = b.N
			}
			ids := prepare(b, s, count, started)
			m.Start(b)
			i := 0
			for b.Loop() {
				if err := op(s, ids[i%len(ids)], i < len(ids)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			m.Stop(b)
		})
	}
	each("start", false, 0, func(s *store.Store, id string, fresh bool) error {
		if _, err := s.Start(ctx, id, 1, "w1", now); err != nil && fresh {
			return err
		}
		return nil
	})
	each("finish", true, 0, func(s *store.Store, id string, fresh bool) error {
		ok, err := s.Finish(ctx, id, 1, outcome, now)
		if err == nil && !ok && fresh {
			err = errors.New("the finish was ignored")
		}
		return err
	})
	each("get", true, 100, func(s *store.Store, id string, _ bool) error {
		_, err := s.Get(ctx, id)
		return err
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
	m.Start(b)
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
	m.Stop(b)
}

// benchStore returns a store on a fresh database with a round-trip meter.
func benchStore(b *testing.B) (*store.Store, *redistest.Meter) {
	b.Helper()
	c := redistest.Client(b)
	m := &redistest.Meter{CPU: c}
	c.AddHook(m)
	return store.New(c, store.Options{}), m
}
