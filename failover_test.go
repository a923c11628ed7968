package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

// runLog records every run of a job function: which execution and
// attempt, and the points of one global sequence at which it started and
// returned (an order of events, not a clock).
type runLog struct {
	mu   sync.Mutex
	seq  int64
	runs []runEntry
}

type runEntry struct {
	id         string
	attempt    int
	start, end int64 // end 0: still running
}

// begin records a run's start and returns its number.
func (l *runLog) begin(id string, attempt int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.runs = append(l.runs, runEntry{id: id, attempt: attempt, start: l.seq})
	return len(l.runs) - 1
}

// finish records the return of run n.
func (l *runLog) finish(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.runs[n].end = l.seq
}

// mark returns a point of the sequence (for the kill).
func (l *runLog) mark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return l.seq
}

func (l *runLog) snapshot() []runEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]runEntry(nil), l.runs...)
}

// TestFailoverUnderSentinel: a primary, two replicas and three Redis
// Sentinels; a worker Service (Config.RedisOptions with a MasterName: a
// go-redis failover client solvekit makes) and a submitting Service (a
// failover client of the test's own in Config.Redis), both with
// Replicated(1, …) durability. Three goroutines submit executions, each
// with its own ID and idempotency key, and repeat a submit that failed
// (ErrNotReplicated, outcome unknown, Redis unreachable) until it is
// acknowledged. Mid-workload the primary is killed with SIGKILL; the
// sentinels promote a replica and the workload goes on through it. Then:
//   - every acknowledged submit exists (0 lost) and ends succeeded (0
//     stuck), with one terminal status event, its last;
//   - no execution ran again after the run whose result was recorded had
//     returned (0 finished jobs re-run). A run in flight at the kill may
//     have run again (its start or end may have died with the primary):
//     that is a new attempt, allowed and counted in the log.
func TestFailoverUnderSentinel(t *testing.T) {
	began := time.Now()
	s := redistest.StartSentinel(t, 2, 3)
	t.Logf("primary, 2 replicas and 3 sentinels up after %s", time.Since(began).Round(time.Millisecond))
	ctx := context.Background()
	runs := &runLog{}
	def := job.Async("fo", func(ctx context.Context, jc *job.Context) (any, error) {
		n := runs.begin(jc.ExecutionID, jc.Attempt)
		time.Sleep(100 * time.Millisecond)
		runs.finish(n)
		return map[string]int{"run": n}, nil
	})
	durability := solvekit.Replicated(1, patience.Scale(time.Second))
	logs := &logtest.Buffer{}

	worker, err := solvekit.New(ctx, solvekit.Config{
		RedisOptions: &redis.UniversalOptions{MasterName: s.MasterName, Addrs: s.Addrs},
		Durability:   durability, Concurrency: 8, Logger: logs.Logger(slog.LevelWarn),
		HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 3 * time.Second,
		SweepInterval: 200 * time.Millisecond, QueuedGrace: time.Second,
		RetryDelay: func(int) time.Duration { return 50 * time.Millisecond }})
	require.NoError(t, err)
	t.Cleanup(func() { worker.Close() })
	require.NoError(t, worker.Register(def))
	workCtx, stopWork := context.WithCancel(ctx)
	worked := make(chan struct{})
	go func() { defer close(worked); _ = worker.Work(workCtx) }()
	t.Cleanup(func() { stopWork(); <-worked })

	rdb := redis.NewFailoverClient(s.FailoverOptions())
	t.Cleanup(func() { rdb.Close() })
	svc, err := solvekit.New(ctx, solvekit.Config{Redis: rdb, Durability: durability,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	require.NoError(t, svc.Register(def))

	// The workload: each goroutine submits until stop, repeating a failed
	// submit (same ID, same key) until it is acknowledged.
	var (
		mu       sync.Mutex
		acked    []string
		failures = map[string]int{}
		firstErr = map[string]string{}
		ackCount atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(patience.Scale(2 * time.Minute))
	submit := func(id string) error {
		for {
			cctx, cancel := context.WithTimeout(ctx, patience.Scale(5*time.Second))
			_, err := svc.SubmitOnce(cctx, solvekit.SubmitRequest{JobType: "fo", ID: id, IdempotencyKey: id,
				Instance: json.RawMessage(`{}`)})
			cancel()
			if err == nil {
				return nil
			}
			kind := "other"
			switch {
			case errors.Is(err, solvekit.ErrNotReplicated):
				kind = "not_replicated"
			case errors.Is(err, job.ErrOutcomeUnknown):
				kind = "outcome_unknown"
			case job.ErrorCode(err) == job.CodeInvalid:
				return err // a retry would not help: a defect
			}
			mu.Lock()
			failures[kind]++
			if _, ok := firstErr[kind]; !ok {
				firstErr[kind] = err.Error()
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				return fmt.Errorf("submit %s not acknowledged before the deadline: %w", id, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	errs := make(chan error, 3)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("fo-%d-%d", g, i)
				if err := submit(id); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
				ackCount.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	stopped := false
	stopWorkload := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopWorkload)
	awaitAcks := func(n int64, what string) {
		t.Helper()
		require.Eventually(t, func() bool {
			select {
			case err := <-errs:
				require.NoError(t, err)
			default:
			}
			return ackCount.Load() >= n
		}, patience.Scale(30*time.Second), 10*time.Millisecond, what)
	}

	awaitAcks(60, "60 submits acknowledged before the kill")
	killedAt := runs.mark()
	ackedAtKill := ackCount.Load()
	killed := time.Now()
	old := s.KillPrimary(t)
	primary := s.AwaitFailover(t, old, 1, patience.Scale(30*time.Second))
	promoted := time.Since(killed)
	awaitAcks(ackCount.Load()+60, "60 more submits acknowledged after the failover")
	stopWorkload()
	t.Logf("workload stopped %s after the kill", time.Since(killed).Round(time.Millisecond))
	select {
	case err := <-errs:
		require.NoError(t, err)
	default:
	}

	// Accounting: every acknowledged submit ends, succeeded, exactly once.
	pending := map[string]bool{}
	for _, id := range acked {
		pending[id] = true
	}
	final := map[string]*job.Execution{}
	var lost []string
	require.Eventually(t, func() bool {
		for id := range pending {
			e, err := svc.Get(ctx, id)
			if errors.Is(err, job.ErrNotFound) {
				lost = append(lost, id)
				delete(pending, id)
				continue
			}
			if err != nil || !e.State.Terminal() {
				continue
			}
			final[id] = e
			delete(pending, id)
		}
		return len(pending) == 0
	}, patience.Scale(60*time.Second), 50*time.Millisecond, "acknowledged executions still not finished (stuck): %d", len(pending))
	t.Logf("every acknowledged execution ended %s after the kill", time.Since(killed).Round(time.Millisecond))
	sort.Strings(lost)
	require.Empty(t, lost, "acknowledged executions lost in the failover")

	byID := map[string][]runEntry{}
	for _, r := range runs.snapshot() {
		byID[r.id] = append(byID[r.id], r)
	}
	rerunInFlight := 0
	for id, e := range final {
		require.Equal(t, job.StateSucceeded, e.State, "execution %s", id)
		sol, err := svc.Solution(ctx, id)
		require.NoError(t, err)
		var out struct{ Run int }
		require.NoError(t, json.Unmarshal(sol, &out), "execution %s", id)
		rs := runs.snapshot()
		require.Less(t, out.Run, len(rs))
		won := rs[out.Run]
		require.Equal(t, id, won.id)
		for _, r := range byID[id] {
			require.False(t, r.start > won.end,
				"execution %s ran again (attempt %d) after the run of attempt %d had finished it", id, r.attempt, won.attempt)
		}
		if len(byID[id]) > 1 {
			rerunInFlight++
		}
		sts := statuses(t, &bundle{svc: svc}, id)
		terminal := 0
		for _, st := range sts {
			if job.State(st).Terminal() {
				terminal++
			}
		}
		require.Equal(t, 1, terminal, "execution %s: status events %v", id, sts)
		require.Equal(t, string(job.StateSucceeded), sts[len(sts)-1], "execution %s: status events %v", id, sts)
	}
	inFlight := 0
	for _, r := range runs.snapshot() {
		if r.start < killedAt && (r.end == 0 || r.end > killedAt) {
			inFlight++
		}
	}
	mu.Lock()
	t.Logf("%d executions acknowledged (%d before the kill), 0 lost, 0 stuck; the sentinels promoted %s %s after the kill of %s; "+
		"runs in flight at the kill: %d; executions run more than once (each before its result was recorded): %d; "+
		"failed submits repeated: %v; test took %s",
		len(acked), ackedAtKill, primary, promoted.Round(time.Millisecond), old, inFlight, rerunInFlight, failures,
		time.Since(began).Round(time.Millisecond))
	for kind, err := range firstErr {
		t.Logf("first %s error: %s", kind, err)
	}
	mu.Unlock()
}
