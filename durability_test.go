package solvekit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

// waitCounter counts the WAIT commands a client sends, alone or in
// pipelines.
type waitCounter struct{ n atomic.Int64 }

func (w *waitCounter) count(cmds ...redis.Cmder) {
	for _, c := range cmds {
		if strings.EqualFold(c.Name(), "wait") {
			w.n.Add(1)
		}
	}
}

func (w *waitCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (w *waitCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { w.count(cmd); return next(ctx, cmd) }
}

func (w *waitCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { w.count(cmds...); return next(ctx, cmds) }
}

// replicatedService starts a Service on the primary of a fresh primary and
// replica pair with durability d, and returns it with the pair, a client
// on the replica and the service client's WAIT counter.
func replicatedService(t *testing.T, d solvekit.Durability) (*solvekit.Service, *redistest.Replicated, *redis.Client, *waitCounter) {
	t.Helper()
	pair := redistest.StartReplicated(t, 1)
	rdb := redis.NewClient(&redis.Options{Addr: pair.Primary})
	t.Cleanup(func() { rdb.Close() })
	w := &waitCounter{}
	rdb.AddHook(w)
	replica := redis.NewClient(&redis.Options{Addr: pair.Replicas[0]})
	t.Cleanup(func() { replica.Close() })
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Durability: d,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	require.NoError(t, svc.Register(echoAsync()))
	return svc, pair, replica, w
}

// TestReplicatedSubmitIsOnTheReplica: with Replicated(1, …) and a healthy
// replica, Submit, Cancel, Relaunch and SubmitMany succeed, and each one's
// write is on the replica as soon as it returns.
func TestReplicatedSubmitIsOnTheReplica(t *testing.T) {
	svc, _, replica, w := replicatedService(t, solvekit.Replicated(1, patience.Scale(5*time.Second)))
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	// Read at once, without waiting: WAIT made Submit wait for the replica.
	n, err := replica.Exists(ctx, "{solvekit}:x:"+e.ID).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the acknowledged record is on the replica")
	after := w.n.Load()
	require.Positive(t, after)

	require.NoError(t, svc.Cancel(ctx, e.ID))
	st, err := replica.HGet(ctx, "{solvekit}:x:"+e.ID, "state").Result()
	require.NoError(t, err)
	require.Equal(t, string(job.StateStopped), st, "the cancel is on the replica")
	require.Greater(t, w.n.Load(), after, "cancel sent WAIT")

	_, err = svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	st, err = replica.HGet(ctx, "{solvekit}:x:"+e.ID, "state").Result()
	require.NoError(t, err)
	require.Equal(t, string(job.StateQueued), st, "the relaunch is on the replica")

	many, err := svc.SubmitMany(ctx, []solvekit.SubmitRequest{
		{JobType: "echo", Instance: json.RawMessage(`{"b":1}`)}, {JobType: "echo", Instance: json.RawMessage(`{"b":2}`)}})
	require.NoError(t, err)
	for _, m := range many {
		n, err := replica.Exists(ctx, "{solvekit}:x:"+m.ID).Result()
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "SubmitMany's records are on the replica")
	}
}

// TestReplicatedSubmitFailsWhileTheReplicaSleeps: with Replicated(1, …)
// and a replica that acknowledges nothing, Submit does not succeed
// silently: it fails with ErrNotReplicated (code outcome_unknown) naming
// the execution, which is on the primary.
func TestReplicatedSubmitFailsWhileTheReplicaSleeps(t *testing.T) {
	svc, pair, _, _ := replicatedService(t, solvekit.Replicated(1, 200*time.Millisecond))
	ctx := context.Background()
	redistest.Pause(t, pair.Replicas[0], patience.Scale(10*time.Second))
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.ErrorIs(t, err, solvekit.ErrNotReplicated)
	require.ErrorIs(t, err, job.ErrOutcomeUnknown)
	require.Equal(t, job.CodeOutcomeUnknown, job.ErrorCode(err))
	require.NotNil(t, e)
	require.Contains(t, err.Error(), e.ID)
	got, err := svc.Get(ctx, e.ID)
	require.NoError(t, err, "the write is on the primary")
	require.Equal(t, job.StateQueued, got.State)
}

// TestDurabilityPrimaryKilledWhileTheReplicaIsFrozen is the acceptance test of
// replicated durability. A primary and one replica; five submits while the
// replica is up; then the replica is frozen (SIGSTOP: a pause as long as
// the test needs, unlike DEBUG SLEEP's fixed one) and five more submits
// are made; then the primary is killed (SIGKILL), the replica thawed and
// promoted (REPLICAOF NO ONE), and a Service on it repeats the second five
// with their idempotency keys:
//   - Frozen, Replicated(1, …): the submits during the freeze fail with
//     ErrNotReplicated (none is acknowledged). The frozen replica's kernel
//     still received them, so they may be on the promoted server; each
//     repeat replays the first submit where it arrived, creates it where
//     not, and each request is there exactly once.
//   - CutOff, Replicated(1, …): the primary also drops the frozen
//     replica's link before the submits, so they never reach it: they fail
//     with ErrNotReplicated, are gone after the failover, and their
//     repeats create them.
//   - CutOffLocal: the same with Local durability shows what Replicated
//     prevents: the five submits are acknowledged, and gone after the
//     failover.
//
// In every case each submit acknowledged while the replica was up is on
// the promoted server.
func TestDurabilityPrimaryKilledWhileTheReplicaIsFrozen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      solvekit.Durability
		cutOff bool
	}{
		{"Frozen", solvekit.Replicated(1, 200*time.Millisecond), false},
		{"CutOff", solvekit.Replicated(1, 200*time.Millisecond), true},
		{"CutOffLocal", solvekit.Local, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, pair, _, _ := replicatedService(t, tc.d)
			ctx := context.Background()
			submit := func(s *solvekit.Service, key string) (solvekit.Submitted, error) {
				return s.SubmitOnce(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`),
					IdempotencyKey: key})
			}
			acked := map[string]string{} // idempotency key → execution ID
			for i := range 5 {
				key := fmt.Sprint("up-", i)
				// A loaded machine's replica may take longer than the WAIT
				// timeout: the submit fails with ErrNotReplicated, and its
				// repeat (a replay, which waits for the replica again) is
				// acknowledged once the replica has it.
				require.Eventually(t, func() bool {
					r, err := submit(svc, key)
					if errors.Is(err, solvekit.ErrNotReplicated) {
						return false
					}
					require.NoError(t, err)
					acked[key] = r.Execution.ID
					return true
				}, patience.Scale(10*time.Second), 10*time.Millisecond, "submit %s never acknowledged", key)
			}
			if tc.d == solvekit.Local {
				// Local sends no WAIT: make sure the replica has the first
				// five before it is frozen.
				primary := redis.NewClient(&redis.Options{Addr: pair.Primary})
				defer primary.Close()
				n, err := primary.Wait(ctx, 1, patience.Scale(10*time.Second)).Result()
				require.NoError(t, err)
				require.EqualValues(t, 1, n)
			}
			thaw := redistest.Freeze(t, pair.Replicas[0])
			if tc.cutOff {
				primary := redis.NewClient(&redis.Options{Addr: pair.Primary})
				defer primary.Close()
				require.NoError(t, primary.Do(ctx, "client", "kill", "type", "replica").Err())
			}
			during := map[string]string{}
			for i := range 5 {
				key := fmt.Sprint("frozen-", i)
				r, err := submit(svc, key)
				if tc.d == solvekit.Local {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, solvekit.ErrNotReplicated, "a submit the replica did not get was acknowledged")
					require.ErrorIs(t, err, job.ErrOutcomeUnknown)
					require.NotNil(t, r.Execution)
				}
				during[key] = r.Execution.ID
			}
			redistest.Kill(t, pair.Primary)
			thaw()
			promoted := redis.NewClient(&redis.Options{Addr: pair.Replicas[0]})
			t.Cleanup(func() { promoted.Close() })
			require.NoError(t, promoted.Do(ctx, "replicaof", "no", "one").Err())
			// Left without replicas, the promoted server serves Local
			// durability.
			svc2, err := solvekit.New(ctx, solvekit.Config{Redis: promoted, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			t.Cleanup(func() { svc2.Close() })
			require.NoError(t, svc2.Register(echoAsync()))
			for key, id := range acked {
				e, err := svc2.Get(ctx, id)
				require.NoError(t, err, "acknowledged submit %s lost in the failover", key)
				require.Equal(t, job.StateQueued, e.State)
			}
			arrived := 0
			for _, id := range during {
				_, err := svc2.Get(ctx, id)
				if err == nil {
					arrived++
					continue
				}
				require.ErrorIs(t, err, job.ErrNotFound)
			}
			t.Logf("%d of %d submits made during the freeze are on the promoted server", arrived, len(during))
			if tc.cutOff {
				require.Zero(t, arrived, "the cut-off replica got submits")
			}
			if tc.d == solvekit.Local {
				return // acknowledged and lost: what Replicated prevents
			}
			for key, id := range during {
				_, err := svc2.Get(ctx, id)
				existed := err == nil
				r, err := submit(svc2, key)
				require.NoError(t, err, "the repeat of %s", key)
				require.Equal(t, existed, r.Replayed, "the repeat of %s replays the first submit if and only if it reached the replica", key)
				if existed {
					require.Equal(t, id, r.Execution.ID)
				}
			}
			all, total, err := svc2.List(ctx, solvekit.ListOptions{JobType: "echo", Limit: 100})
			require.NoError(t, err)
			require.EqualValues(t, len(acked)+len(during), total, "each submit exactly once on the promoted server")
			require.Len(t, all, len(acked)+len(during))
		})
	}
}

// TestLocalDurabilitySendsNoWait: without Durability (Local), Submit and
// Cancel send no WAIT although the primary has a replica.
func TestLocalDurabilitySendsNoWait(t *testing.T) {
	svc, _, _, w := replicatedService(t, solvekit.Local)
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	require.NoError(t, svc.Cancel(ctx, e.ID))
	_, err = svc.SubmitMany(ctx, []solvekit.SubmitRequest{{JobType: "echo", Instance: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	require.Zero(t, w.n.Load())
}

// TestReplicatedReplayWaitsForTheReplica: a SubmitOnce that the sleeping
// replica does not acknowledge fails with ErrNotReplicated, and so does
// its replay while the replica still sleeps (a replay acknowledges the
// first write only once a replica has it); both name the same execution.
func TestReplicatedReplayWaitsForTheReplica(t *testing.T) {
	svc, pair, _, _ := replicatedService(t, solvekit.Replicated(1, 200*time.Millisecond))
	ctx := context.Background()
	redistest.Pause(t, pair.Replicas[0], patience.Scale(10*time.Second))
	req := solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`), IdempotencyKey: "k"}
	first, err := svc.SubmitOnce(ctx, req)
	require.ErrorIs(t, err, solvekit.ErrNotReplicated)
	require.NotNil(t, first.Execution)
	again, err := svc.SubmitOnce(ctx, req)
	require.ErrorIs(t, err, solvekit.ErrNotReplicated)
	require.True(t, again.Replayed)
	require.Equal(t, first.Execution.ID, again.Execution.ID)
}

// TestReplicatedRefusedWithoutReplication: New refuses replicated
// durability on the embedded Redis, which has no replicas, and a negative
// replica count.
func TestReplicatedRefusedWithoutReplication(t *testing.T) {
	_, err := solvekit.New(context.Background(), solvekit.Config{Durability: solvekit.Replicated(1, 0),
		Logger: slog.New(slog.DiscardHandler)})
	require.ErrorContains(t, err, "embedded")
	_, err = solvekit.New(context.Background(), solvekit.Config{Redis: redistest.Client(t),
		Durability: solvekit.Durability{Replicas: -1}, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorContains(t, err, "negative")
}

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

// TestOnRedisCluster runs the lifecycle on a real three-node Redis
// Cluster through Config.RedisOptions: async and sync jobs, validation,
// cancel with an incumbent, relaunch, listing, logs and delete. On a
// cluster the record and its asynq task live in different hash slots, so
// Submit enqueues through asynq's client and a finish leaves the task to
// asynq's Done; the store's scripts stay atomic on their one slot.
func TestOnRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	var logs logtest.Buffer
	echo := job.SyncOf("echo", func(ctx context.Context, jc *job.Context, in struct {
		Msg string `json:"msg"`
	}) (map[string]string, error) {
		return map[string]string{"echo": in.Msg}, nil
	})
	svc := solvekittest.Start(t, solvekittest.Options{Config: solvekit.Config{
		RedisOptions: &redis.UniversalOptions{Addrs: c.Addrs},
		Logger:       logs.Logger(slog.LevelWarn),
	}}, sumJob(), improver("improve"), echo)
	_, isCluster := solvekit.StoreOf(svc).Redis().(*redis.ClusterClient)
	require.True(t, isCluster, "RedisOptions with several addresses makes a cluster client")
	ctx := context.Background()
	b := &bundle{svc: svc}

	const n = 20
	ids := make([]string, n)
	for i := range ids {
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2,3]}`)})
		require.NoError(t, err)
		ids[i] = e.ID
	}
	for _, id := range ids {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		sol, err := svc.Solution(ctx, id)
		require.NoError(t, err)
		require.JSONEq(t, `{"sum":6}`, string(sol))
	}
	records, err := svc.Logs(ctx, ids[0], "", 10)
	require.NoError(t, err)
	require.NotEmpty(t, records)

	_, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[-1]}`)})
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/instance/values/0", je.Violations[0].Pointer)

	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"msg":"hi"}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, e.State)

	e, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, e.ID, job.StateRunning)
	require.Eventually(t, func() bool {
		inc, err := solvekit.StoreOf(svc).Incumbent(ctx, e.ID)
		return err == nil && len(inc) > 0
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.NoError(t, svc.Cancel(ctx, e.ID))
	e = waitFor(t, b, e.ID, 20*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	require.True(t, e.HasSolution)

	re, err := svc.Relaunch(ctx, ids[0], solvekit.RelaunchRequest{Config: json.RawMessage(`{"scale":10}`)})
	require.NoError(t, err)
	require.Equal(t, 2, re.Attempt)
	re = waitFor(t, b, ids[0], 20*time.Second)
	require.Equal(t, job.StateSucceeded, re.State)
	sol, err := svc.Solution(ctx, ids[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":60}`, string(sol))

	list, total, err := svc.List(ctx, solvekit.ListOptions{JobType: "sum", Limit: 5})
	require.NoError(t, err)
	require.EqualValues(t, n, total)
	require.Len(t, list, 5)
	require.NoError(t, svc.Delete(ctx, ids[1]))
	_, err = svc.Get(ctx, ids[1])
	require.ErrorIs(t, err, job.ErrNotFound)
	// Nothing went wrong out of sight: no warning from solvekit or asynq
	// (the embedded-Redis notice does not apply here).
	require.Empty(t, logs.String())
}

// On Redis Cluster the due set lives in the prefix's hash slot, with the
// records: the scripts that end an execution schedule its callback there.
func TestCallbackOnRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	rcv := newReceiver(t)
	cfg := cbConfig()
	cfg.RedisOptions = &redis.UniversalOptions{Addrs: c.Addrs}
	cfg.Logger = slog.New(slog.DiscardHandler)
	svc := solvekittest.Start(t, solvekittest.Options{Config: cfg}, sumJob())
	b := &bundle{svc: svc}
	e, err := svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), ResultURL: rcv.srv.URL})
	require.NoError(t, err)
	waitFor(t, b, e.ID, 20*time.Second)
	e = waitCallback(t, svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Len(t, rcv.got(), 1)
}

const workerEnv = "SOLVEKIT_TEST_WORKER_URL"

// workerPublicEnv, set in a crash test's environment, makes its worker
// processes use Config.AsynqPublicAPI.
const workerPublicEnv = "SOLVEKIT_TEST_WORKER_PUBLIC"

// slowJob counts to the instance's "steps", one step each 100 ms, publishing
// each count as an incumbent; its solution names the worker that finished.
// On worker-a, the worker the crash test kills, it counts on until then, so
// that the kill lands mid-job however long worker-b takes to start.
func slowJob(worker string) *job.Definition {
	return job.Async("slow", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct {
			Steps int `json:"steps"`
		}
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		for i := 1; i <= in.Steps || worker == "worker-a"; i++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			_ = jc.Incumbent(map[string]any{"count": i, "worker": worker}, float64(i))
		}
		return map[string]any{"count": in.Steps, "worker": worker}, nil
	})
}

// workerProcess is the body of a worker process started by a crash test:
// Work on the given Redis with default heartbeat settings until killed.
func workerProcess(url string) int {
	id := os.Getenv("SOLVEKIT_TEST_WORKER_ID")
	svc, err := solvekit.New(context.Background(), solvekit.Config{RedisURL: url, WorkerID: id, Concurrency: 4,
		AsynqPublicAPI: os.Getenv(workerPublicEnv) != "",
		Logger:         slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := svc.Register(slowJob(id)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("worker ready")
	_ = svc.Work(ctx)
	return 0
}

type workerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// slowOnWorkerA starts worker process "worker-a", submits a slow job of
// 30 steps and waits until worker-a runs it.
func slowOnWorkerA(t *testing.T, b *bundle) (*workerProc, *job.Execution) {
	t.Helper()
	a := startWorker(t, b.url, "worker-a")
	e, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "slow", Instance: json.RawMessage(`{"steps":30}`)})
	require.NoError(t, err)
	e = waitState(t, b, e.ID, job.StateRunning)
	require.Equal(t, "worker-a", e.Worker)
	return a, e
}

func startWorker(t *testing.T, url, id string) *workerProc {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+url, "SOLVEKIT_TEST_WORKER_ID="+id)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	w := &workerProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		var once sync.Once
		for sc.Scan() {
			if strings.Contains(sc.Text(), "worker ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
	})
	select {
	case <-ready:
	case <-time.After(patience.Scale(20 * time.Second)):
		t.Fatal("worker process did not start")
	}
	return w
}

func (w *workerProc) kill9(t *testing.T) {
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	<-w.done
}

// TestKill9WorkerRequeues kills a worker process mid-job with SIGKILL and
// checks that another worker process re-runs the execution to completion,
// with exactly one terminal state and one solution, after the dead
// attempt was marked lost. How long the re-run took is logged, not
// asserted: on an idle machine it is HeartbeatTimeout (10 s) plus a
// second or two; a loaded one only makes it later.
func TestKill9WorkerRequeues(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes ~15 s")
	}
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{slowJob("submitter")}})
	ctx := context.Background()
	a, e := slowOnWorkerA(t, b)
	waitUntil(t, b.svc, e.ID, 10*time.Second, func(got *job.Execution) bool { return got.Objective != nil }, // mid-job
		"worker-a published no incumbent")
	startWorker(t, b.url, "worker-b")
	a.kill9(t)
	killed := time.Now()

	var rerun time.Duration
	waitUntil(t, b.svc, e.ID, 20*time.Second, func(got *job.Execution) bool {
		if got.State == job.StateRunning && got.Attempt == 2 {
			rerun = time.Since(killed)
			return true
		}
		return false
	}, "execution was not re-run after the kill")
	t.Logf("re-run started %s after kill -9", rerun.Round(time.Millisecond))
	require.Equal(t, "worker-b", waitState(t, b, e.ID, job.StateRunning).Worker)

	done := waitFor(t, b, e.ID, 20*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	require.Equal(t, 2, done.Attempt)
	require.JSONEq(t, `{"count":30,"worker":"worker-b"}`, string(b.solution(t, e.ID)))

	// Exactly one terminal status event in the execution's history.
	evs, err := solvekit.StoreOf(b.svc).Events(ctx, e.ID, "", 1000)
	require.NoError(t, err)
	var states []string
	for _, ev := range evs {
		if ev.Type != "status" {
			continue
		}
		var d struct{ State job.State }
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		states = append(states, string(d.State))
	}
	require.Equal(t, []string{"queued", "running", "lost", "queued", "running", "succeeded"}, states)
	// One solution key, no incumbent left over.
	_, err = solvekit.StoreOf(b.svc).Incumbent(ctx, e.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
	// Nothing is left in the running index.
	counts, err := solvekit.StoreOf(b.svc).CountByState(ctx)
	require.NoError(t, err)
	require.Zero(t, counts[job.StateRunning])
	_ = store.Lost
}

// TestKill9RetiresDeadTask kills a worker process mid-job with SIGKILL;
// another worker process requeues and re-runs the execution. asynq's
// Inspector must then agree with solvekit: the dead attempt's task is
// gone (not active until its lease expires, to be counted failed and
// delivered again later), nothing is active or leased, and no failure,
// retry or archived task is counted.
func TestKill9RetiresDeadTask(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes ~15 s")
	}
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{slowJob("submitter")}})
	ctx := context.Background()
	e, _, in := killMidJob(t, b)

	_, err := in.GetTaskInfo("default", e.ID+":1")
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "the dead attempt's task is still there: %v", err)
	info := waitQueue(t, in, patience.Scale(10*time.Second), "asynq still holds a task, or did not count both as processed",
		func(info *asynq.QueueInfo) bool { return info.Active == 0 && info.Pending == 0 && info.Processed == 2 })
	require.Zero(t, info.Failed)
	require.Zero(t, info.Retry)
	require.Zero(t, info.Archived)
	require.Zero(t, b.rdb.ZCard(ctx, "asynq:{default}:lease").Val(), "a lease left for asynq's recoverer to fail later")
}

// killMidJob submits a slow job to a worker process, checks that its
// attempt's asynq task is active, kills the worker with SIGKILL mid-job,
// starts another, and waits until that one has finished the execution as
// attempt 2. It returns the execution as submitted and as finished, and
// asynq's inspector.
func killMidJob(t *testing.T, b *bundle) (submitted, done *job.Execution, in *asynq.Inspector) {
	t.Helper()
	a, e := slowOnWorkerA(t, b)
	in = solvekit.InspectorOf(b.svc)
	ti, err := in.GetTaskInfo("default", e.ID+":1")
	require.NoError(t, err)
	require.Equal(t, "active", ti.State.String())
	a.kill9(t) // mid-job; the other worker (and its sweeper) starts after
	startWorker(t, b.url, "worker-b")
	done = waitFor(t, b, e.ID, 60*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, "worker-b", done.Worker)
	return e, done, in
}

var metaKey = regexp.MustCompile(`^\{solvekit\}:x:[^:]+$`)

// heartbeatOfAttempt matches the heartbeat script's sends for attempt n of
// a single execution.
func heartbeatOfAttempt(n int) func([]string, []any) bool {
	return func(keys []string, argv []any) bool {
		return len(keys) == 1 && metaKey.MatchString(keys[0]) && len(argv) == 4 && fmt.Sprint(argv[3]) == fmt.Sprint(n)
	}
}

// zombieSetup starts a Service (logging to logger; nil discards) with a
// "zombie" job whose attempt 1 loses touch with Redis: a hook drops its
// heartbeats, and it ignores its context until the test ends. A fast
// sweeper declares it lost and requeues it; attempt 2 succeeds. A send on
// release lets attempt 1's job return.
func zombieSetup(t *testing.T, logger *slog.Logger) (b *bundle, release chan<- struct{}) {
	t.Helper()
	zombie := make(chan struct{})
	def := job.Async("zombie", func(ctx context.Context, jc *job.Context) (any, error) {
		if jc.Attempt == 1 {
			<-zombie // ignores ctx: its worker lost touch with Redis
		}
		return map[string]int{"attempt": jc.Attempt}, nil
	})
	hook := &faultHook{faults: []*fault{{match: heartbeatOfAttempt(1), always: true}}}
	b = setup(t, setupOpts{defs: []*job.Definition{def}, hook: hook, cfg: solvekit.Config{
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second, SweepInterval: 100 * time.Millisecond,
		Logger: logger}})
	t.Cleanup(func() { close(zombie) }) // before the worker stops
	return b, zombie
}

// TestLostAttemptTaskRetired: an attempt whose heartbeats stop reaching
// Redis is declared lost and requeued by the sweeper, which also retires
// its asynq task: asynq's Inspector shows no such task and nothing active
// while the old attempt's job still runs, and when that job finally
// returns, its late finish is ignored without asynq failing, retrying or
// warning about the task.
func TestLostAttemptTaskRetired(t *testing.T) {
	var logs logtest.Buffer
	b, release := zombieSetup(t, logs.Logger(slog.LevelInfo))
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "zombie", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, []string{"queued", "running", "lost", "queued", "running", "succeeded"}, statuses(t, b, e.ID))

	in := solvekit.InspectorOf(b.svc)
	waitQueue(t, in, patience.Scale(10*time.Second), "asynq still has a pending task",
		func(info *asynq.QueueInfo) bool { return info.Pending == 0 })
	_, err = in.GetTaskInfo("default", e.ID+":1")
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "the lost attempt's task is still there: %v", err)
	info, err := in.GetQueueInfo("default")
	require.NoError(t, err)
	require.Zero(t, info.Active, "a phantom active task")
	require.Zero(t, b.rdb.ZCard(ctx, "asynq:{default}:lease").Val(), "a lease left for the recoverer")
	waitQueue(t, in, patience.Scale(10*time.Second), "both attempts' tasks are processed",
		func(info *asynq.QueueInfo) bool { return info.Processed == 2 })

	// The old attempt's job returns at last: its finish is ignored.
	release <- struct{}{}
	// Give a wrongly sent Done time to fail and be logged.
	time.Sleep(time.Second)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, got.State)
	require.Equal(t, 2, got.Attempt)
	requireQueueClean(t, b)
	require.NotContains(t, logs.String(), "Could not remove task")
}

func echoAsync() *job.Definition {
	return job.Async("echo", func(ctx context.Context, jc *job.Context) (any, error) { return jc.Instance, nil })
}

// TestServiceWhenRedisIsDown: with Redis stopped, the Service's methods
// fail with job.ErrUnavailable (code unavailable), and Submit's error
// means that nothing was created.
func TestServiceWhenRedisIsDown(t *testing.T) {
	// A small pool stops dialling (and logging each failure) after a few
	// failed dials, until a background probe reaches the server again.
	rdb, stop := redistest.Stoppable(t, 4)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	require.NoError(t, svc.Register(echoAsync()))
	ctx := context.Background()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)

	stop()
	for name, call := range map[string]func() error{
		"submit": func() error {
			_, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{}`)})
			return err
		},
		"get":      func() error { _, err := svc.Get(ctx, e.ID); return err },
		"solution": func() error { _, err := svc.Solution(ctx, e.ID); return err },
		"list":     func() error { _, _, err := svc.List(ctx, solvekit.ListOptions{}); return err },
		"cancel":   func() error { return svc.Cancel(ctx, e.ID) },
		"counts":   func() error { _, err := svc.Counts(ctx); return err },
		"logs":     func() error { _, err := svc.Logs(ctx, e.ID, "", 10); return err },
	} {
		err := call()
		require.ErrorIs(t, err, job.ErrUnavailable, "%s: %v", name, err)
		require.Equal(t, job.CodeUnavailable, job.ErrorCode(err), name)
	}
}

// TestSubmitErrorForACreatedExecution: when the connection breaks after
// Submit's write reached Redis and Redis then refuses connections, Submit
// says that the outcome is unknown (job.ErrOutcomeUnknown), returns the
// record it sent and names it in the message; the execution exists.
func TestSubmitErrorForACreatedExecution(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{echoAsync()}})
	f := &redistest.Faults{Only: redistest.WritesInput}
	b.rdb.AddHook(f)
	f.RefuseAfterLoss.Store(-1)
	f.Lose.Store(true)
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)})
	require.ErrorIs(t, err, job.ErrOutcomeUnknown)
	require.Equal(t, job.CodeOutcomeUnknown, job.ErrorCode(err))
	require.NotNil(t, e)
	require.Contains(t, err.Error(), e.ID)
	f.Refuse.Store(0)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, got.State)
}

// errInjected is the network failure faultHook reports: what a reset
// connection gives.
var errInjected = &net.OpError{Op: "read", Net: "unix", Err: syscall.ECONNRESET}

// fault makes the sends of one script fail: drop sends fail before they
// reach Redis (Redis is unreachable), lose sends run on Redis but their
// reply is lost (the connection breaks after the write). match picks the
// script by its keys and arguments.
type fault struct {
	match      func(keys []string, argv []any) bool
	drop, lose int
	// always drops every matching send (drop and lose are then unused).
	always bool
	sent   int
}

// faultHook is a go-redis hook injecting network failures into the sends
// of the scripts its faults match; the real Redis runs everything else
// (and the sends a lose fault lets through).
type faultHook struct {
	mu     sync.Mutex
	faults []*fault
}

func scriptCall(cmd redis.Cmder) (keys []string, argv []any, ok bool) {
	args := cmd.Args()
	if len(args) < 3 {
		return nil, nil, false
	}
	if name := strings.ToLower(fmt.Sprint(args[0])); name != "evalsha" && name != "eval" {
		return nil, nil, false
	}
	n, err := strconv.Atoi(fmt.Sprint(args[2]))
	if err != nil || len(args) < 3+n {
		return nil, nil, false
	}
	for _, k := range args[3 : 3+n] {
		keys = append(keys, fmt.Sprint(k))
	}
	return keys, args[3+n:], true
}

// decide returns "drop", "lose" or "" for one command.
func (h *faultHook) decide(cmd redis.Cmder) string {
	keys, argv, ok := scriptCall(cmd)
	if !ok {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.faults {
		if !f.match(keys, argv) {
			continue
		}
		f.sent++
		switch {
		case f.always:
			return "drop"
		case f.drop > 0:
			f.drop--
			return "drop"
		case f.lose > 0:
			f.lose--
			return "lose"
		}
	}
	return ""
}

func (h *faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch h.decide(cmd) {
		case "drop":
			cmd.SetErr(errInjected)
			return errInjected
		case "lose":
			_ = next(ctx, cmd)
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

func (h *faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var drop, lose bool
		for _, c := range cmds {
			switch h.decide(c) {
			case "drop":
				drop = true
			case "lose":
				lose = true
			}
		}
		if !drop {
			err := next(ctx, cmds)
			if !lose {
				return err
			}
		}
		for _, c := range cmds {
			c.SetErr(errInjected)
		}
		return errInjected
	}
}

func (h *faultHook) sends(f *fault) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f.sent
}

// pending is how many of f's planned drops and losses have not happened.
func (h *faultHook) pending(f *fault) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f.drop + f.lose
}

// isFinish and isStart recognise the store's finish and start scripts by
// their keys; attempt picks one attempt's finish.
func isFinish(keys []string, _ []any) bool {
	return len(keys) >= 7 && strings.HasSuffix(keys[1], ":sol") && strings.HasSuffix(keys[4], ":ix:st:running")
}

func isStart(keys []string, _ []any) bool {
	return len(keys) == 5 && strings.HasSuffix(keys[1], ":in")
}

func finishOfAttempt(n int) func([]string, []any) bool {
	return func(keys []string, argv []any) bool {
		return isFinish(keys, argv) && len(argv) > 1 && fmt.Sprint(argv[1]) == strconv.Itoa(n)
	}
}

// recordEnv runs one counted job on a service whose Redis client carries
// the given faults, with a sweeper quick to requeue a silent attempt (so
// that an attempt left behind shows up as a "lost" event and a second run
// within the test).
type recordEnv struct {
	b    *bundle
	hook *faultHook
	logs *logtest.Buffer
	mu   sync.Mutex
	runs map[string]int
}

func newRecordEnv(t *testing.T, faults ...*fault) *recordEnv {
	r := &recordEnv{hook: &faultHook{faults: faults}, logs: &logtest.Buffer{}, runs: map[string]int{}}
	def := job.Async("counted", func(ctx context.Context, jc *job.Context) (any, error) {
		r.mu.Lock()
		r.runs[jc.ExecutionID]++
		r.mu.Unlock()
		return map[string]int{"attempt": jc.Attempt}, nil
	})
	r.b = setup(t, setupOpts{defs: []*job.Definition{def}, hook: r.hook, cfg: solvekit.Config{
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second, SweepInterval: 100 * time.Millisecond,
		RetryDelay: func(int) time.Duration { return 10 * time.Millisecond },
		Logger:     r.logs.Logger(slog.LevelInfo)}})
	return r
}

// run submits one execution and waits for its end.
func (r *recordEnv) run(t *testing.T) *job.Execution {
	t.Helper()
	ctx := context.Background()
	e, err := r.b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "counted", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	return waitFor(t, r.b, e.ID, 30*time.Second)
}

func (r *recordEnv) runsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// statuses lists the states of an execution's status events.
func statuses(t *testing.T, b *bundle, id string) []string {
	t.Helper()
	evs, err := solvekit.StoreOf(b.svc).Events(context.Background(), id, "", 1000)
	require.NoError(t, err)
	var out []string
	for _, ev := range evs {
		if ev.Type != "status" {
			continue
		}
		var d struct{ State string }
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		out = append(out, d.State)
	}
	return out
}

// requireQueueClean checks that asynq sees nothing left or failed for the
// default queue: no active, pending, retry or archived task, and no
// failure counted.
func requireQueueClean(t *testing.T, b *bundle) {
	t.Helper()
	info := waitQueue(t, solvekit.InspectorOf(b.svc), patience.Scale(10*time.Second), "asynq still holds tasks",
		func(info *asynq.QueueInfo) bool { return info.Active == 0 && info.Pending == 0 })
	require.Zero(t, info.Retry, "tasks waiting for an asynq retry")
	require.Zero(t, info.Archived, "tasks archived by asynq")
	require.Zero(t, info.Failed, "failures counted by asynq")
}

// TestRecordWritesRetried: the worker's Start or Finish of an attempt
// meets Redis failures, and the attempt still runs once and succeeds at
// attempt 1, never declared lost, with asynq counting no failure, retry
// or archived task:
//   - FinishRetriedWhileRedisFails: the finish of a job that did its
//     work cannot reach Redis three times in a row; the worker retries
//     it while the attempt keeps its heartbeat. (Each Finish call is sent
//     twice, its pipeline's connection then the pool: six drops fail
//     three calls.)
//   - FinishReplyLost: the finish runs on Redis but its reply is lost;
//     the store sends it again and finds it done (or, when the machine is
//     so slow that its short resend window has passed, the worker reads
//     the record and finds its end there). Its asynq task was
//     completed by the first send: asynq must not be told to complete it
//     a second time (its Done would fail with NOT FOUND and be retried,
//     with warnings).
//   - StartReplyLost: the Start runs on Redis but its reply is lost; the
//     second send must start the attempt (it is this worker's own), not
//     leave the record running with no job until the sweeper declares it
//     lost.
//   - StartRetriedWhileRedisFails: the Start cannot reach Redis twice in
//     a row; the worker retries it itself.
func TestRecordWritesRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fault
		minSends int
		// notLogged is a log line that must not appear.
		notLogged string
	}{
		{"FinishRetriedWhileRedisFails", fault{match: isFinish, drop: 6}, 7, ""},
		{"FinishReplyLost", fault{match: isFinish, lose: 1}, 1, "Could not remove task"},
		{"StartReplyLost", fault{match: isStart, lose: 1}, 2, ""},
		{"StartRetriedWhileRedisFails", fault{match: isStart, drop: 4}, 5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &tc.fault
			r := newRecordEnv(t, f)
			e := r.run(t)
			require.Equal(t, job.StateSucceeded, e.State)
			require.Equal(t, 1, e.Attempt, "the attempt was run again or requeued")
			require.Equal(t, 1, r.runsOf(e.ID))
			require.Equal(t, []string{"queued", "running", "succeeded"}, statuses(t, r.b, e.ID))
			require.GreaterOrEqual(t, r.hook.sends(f), tc.minSends)
			require.Zero(t, r.hook.pending(f), "a planned fault never happened")
			requireQueueClean(t, r.b)
			if tc.notLogged != "" {
				// Give a wrongly sent Done time to fail and be logged.
				time.Sleep(200 * time.Millisecond)
				require.NotContains(t, r.logs.String(), tc.notLogged)
			}
		})
	}
}

// TestFinishGivesUpThenRequeues: attempt 1's finish never reaches Redis.
// Past the retry bound the worker requeues the execution itself (not the
// sweeper, which would record a lost attempt), and attempt 2 succeeds.
func TestFinishGivesUpThenRequeues(t *testing.T) {
	solvekit.SetRecordRetry(t, 10*time.Millisecond, 50*time.Millisecond, 300*time.Millisecond)
	f := &fault{match: finishOfAttempt(1), always: true}
	r := newRecordEnv(t, f)
	e := r.run(t)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, 1, e.Retries)
	require.Equal(t, 2, r.runsOf(e.ID))
	require.Equal(t, []string{"queued", "running", "queued", "running", "succeeded"}, statuses(t, r.b, e.ID))
	require.Contains(t, r.logs.String(), "could not record the end of an attempt")
}

// asynqCalls counts, on the client it is hooked into, the calls of asynq's
// own scripts that the fused path replaces (asynq v0.26 key shapes): an
// enqueue or schedule that wrote a task (two keys, the first a task hash;
// the script answers 1), and a done (five keys, the first an active list).
type asynqCalls struct{ enqueued, done atomic.Int64 }

func (h *asynqCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *asynqCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *asynqCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil || (cmd.Name() != "evalsha" && cmd.Name() != "eval") {
			return err
		}
		args := cmd.Args()
		if len(args) < 4 {
			return err
		}
		n, _ := args[2].(int)
		first, _ := args[3].(string)
		switch {
		case n == 2 && strings.HasPrefix(first, "asynq:{") && strings.Contains(first, "}:t:"):
			if c, ok := cmd.(*redis.Cmd); ok && c.Val() == int64(1) {
				h.enqueued.Add(1)
			}
		case n == 5 && strings.HasPrefix(first, "asynq:{") && strings.HasSuffix(first, "}:active"):
			h.done.Add(1)
		}
		return err
	}
}

// TestTaskPathReachesRedis: with Config.AsynqPublicAPI a job's task is
// written by asynq's enqueue and ended by asynq's done, both reaching
// Redis; by default (asynq v0.26, one Redis) neither runs: the record's
// scripts write and end the task, and the Server answers asynq's done.
func TestTaskPathReachesRedis(t *testing.T) {
	for _, public := range []bool{false, true} {
		calls := &asynqCalls{}
		b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, hook: calls,
			cfg: solvekit.Config{AsynqPublicAPI: public}})
		ctx := context.Background()
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
		require.NoError(t, err)
		require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 10*time.Second).State)
		waitQueue(t, solvekit.InspectorOf(b.svc), patience.Scale(10*time.Second), "asynq did not count the task processed",
			func(info *asynq.QueueInfo) bool { return info.Processed == 1 && info.Active == 0 })
		want := int64(0)
		if public {
			want = 1
		}
		require.Equal(t, want, calls.enqueued.Load(), "asynq enqueues, public %v", public)
		// The Inspector may count the done before its reply reaches the hook.
		require.Eventually(t, func() bool { return calls.done.Load() == want }, patience.Scale(5*time.Second), 5*time.Millisecond,
			"asynq dones, public %v", public)
	}
}

// waitQueue waits up to within until asynq's Inspector shows the default
// queue as done accepts (failing t with msg otherwise), and returns that
// info.
func waitQueue(t *testing.T, in *asynq.Inspector, within time.Duration, msg string, done func(*asynq.QueueInfo) bool) *asynq.QueueInfo {
	t.Helper()
	var info *asynq.QueueInfo
	require.Eventually(t, func() bool {
		var err error
		info, err = in.GetQueueInfo("default")
		require.NoError(t, err)
		return done(info)
	}, within, 10*time.Millisecond, msg)
	return info
}

// requireAsynqClean waits until asynq's Inspector shows nothing active,
// pending, scheduled or waiting for a retry on the default queue, then
// checks that it counted processed tasks in all and archived none. It
// returns the queue's info.
func requireAsynqClean(t *testing.T, in *asynq.Inspector, processed int, within time.Duration) *asynq.QueueInfo {
	t.Helper()
	info := waitQueue(t, in, patience.Scale(within), "asynq still holds tasks", func(info *asynq.QueueInfo) bool {
		return info.Active == 0 && info.Pending == 0 && info.Scheduled == 0 && info.Retry == 0
	})
	require.Equal(t, processed, info.Processed, "%+v", info)
	require.Zero(t, info.Archived)
	require.Zero(t, info.Completed)
	return info
}

// TestPublicPathLifecycle runs the lifecycle on asynq's public client API
// (Config.AsynqPublicAPI): a success, a cancel of a running job (stopped
// with its incumbent), a retry, a relaunch, and an execution whose task a
// crash lost (the sweeper asks asynq's Inspector, and enqueues it). asynq
// must count every task processed, none failed, none left.
func TestPublicPathLifecycle(t *testing.T) {
	var runs atomic.Int64
	flaky := job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
		if runs.Add(1) == 1 {
			return nil, errors.New("first attempt fails")
		}
		return map[string]float64{"sum": 7}, nil
	}, job.WithMaxRetries(1), job.WithSolutionSchema(sumSolution))
	calls := &asynqCalls{}
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob(), improver("improve"), flaky}, hook: calls,
		cfg: solvekit.Config{AsynqPublicAPI: true, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond },
			QueuedGrace: 200 * time.Millisecond, SweepInterval: 100 * time.Millisecond}})
	ctx := context.Background()
	in := solvekit.InspectorOf(b.svc)

	// Submit → succeeded.
	sum, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
	require.NoError(t, err)
	e := waitFor(t, b, sum.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)

	// Cancel of a running job: stopped with its incumbent.
	imp, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "improve", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, imp.ID, job.StateRunning)
	require.Eventually(t, func() bool {
		inc, err := b.svc.Incumbent(ctx, imp.ID)
		return err == nil && len(inc) > 0
	}, patience.Scale(5*time.Second), 5*time.Millisecond)
	require.NoError(t, b.svc.Cancel(ctx, imp.ID))
	e = waitFor(t, b, imp.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, e.State)
	require.True(t, e.HasSolution)
	require.NotNil(t, e.Objective)

	// A retry: attempt 1 fails, attempt 2 (a new task) succeeds.
	fl, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "flaky", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	e = waitFor(t, b, fl.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)

	// A relaunch of the finished sum.
	_, err = b.svc.Relaunch(ctx, sum.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"scale":10}`)})
	require.NoError(t, err)
	e = waitFor(t, b, sum.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	sol, err := b.svc.Solution(ctx, sum.ID)
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":30}`, string(sol))

	// A record whose task a crash lost: the sweeper finds no task through
	// asynq's Inspector and enqueues one.
	orphan := &job.Execution{ID: "orphan-public", JobType: "sum", Kind: job.KindAsync, Queue: "default",
		Config: json.RawMessage(`{"scale":1}`), CreatedAt: time.Now().Add(-time.Second)}
	require.NoError(t, solvekit.StoreOf(b.svc).Create(ctx, orphan, json.RawMessage(`{"values":[4]}`)))
	e = waitFor(t, b, orphan.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)

	// Six tasks (sum, improve, flaky ×2, the relaunch, the orphan), each
	// enqueued and ended by asynq itself.
	info := requireAsynqClean(t, in, 6, 10*time.Second)
	require.Zero(t, info.Failed)
	// Redis may have run an enqueue or the last done (the Inspector counts
	// it, the task may even have run) before its reply has reached the
	// hook that counts it: the sweeper's and the retry's enqueues are made
	// by goroutines a loaded machine may leave waiting.
	require.Eventually(t, func() bool { return calls.enqueued.Load() == 6 && calls.done.Load() == 6 },
		patience.Scale(5*time.Second), 5*time.Millisecond,
		"asynq's enqueue and done did not each run six times")
	require.EqualValues(t, 6, calls.enqueued.Load())
	require.EqualValues(t, 6, calls.done.Load())
}

// TestPublicPathKill9 kills a worker process (on asynq's public API) mid-
// job with SIGKILL; another one re-runs the execution to completion. The
// dead attempt's task is not ended by solvekit (that would write asynq's
// layout): asynq's own recovery takes it once its lease has expired (up to
// about two minutes), counting it failed once, and delivers it again to a
// handler that finds nothing to run. Then asynq holds nothing, the
// execution is untouched, and nothing is archived.
func TestPublicPathKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery: up to ~2.5 min")
	}
	t.Setenv(workerPublicEnv, "1")
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{slowJob("submitter")},
		cfg: solvekit.Config{AsynqPublicAPI: true}})
	ctx := context.Background()
	e, done, in := killMidJob(t, b)
	require.JSONEq(t, `{"count":30,"worker":"worker-b"}`, string(b.solution(t, e.ID)))

	// Three processed: attempt 2's task, and attempt 1's task twice (its
	// lease recovery, counted failed, then its second delivery).
	info := requireAsynqClean(t, in, 3, 4*time.Minute)
	require.Equal(t, 1, info.Failed, "asynq's recovery, not solvekit, ended the dead attempt's task")
	_, err := in.GetTaskInfo("default", e.ID+":1")
	require.True(t, errors.Is(err, asynq.ErrTaskNotFound), "%v", err)
	require.Zero(t, b.rdb.ZCard(ctx, "asynq:{default}:lease").Val())
	// The second delivery ran nothing: the record is as worker-b left it.
	after, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, done.State, after.State)
	require.Equal(t, done.Attempt, after.Attempt)
	require.Equal(t, done.FinishedAt, after.FinishedAt)
}

// TestNewLogsTaskPath: New logs once which path asynq's tasks take: fused
// with the tested asynq release this test binary links, public when the
// configuration forces it, with the reason.
func TestNewLogsTaskPath(t *testing.T) {
	for _, tt := range []struct {
		public bool
		want   string
	}{
		{false, "path=fused asynq=v0.26.0"},
		{true, `path=public asynq=v0.26.0 reason="Config.AsynqPublicAPI is set"`},
	} {
		var logs logtest.Buffer
		setup(t, setupOpts{noWork: true, cfg: solvekit.Config{AsynqPublicAPI: tt.public, Logger: logs.Logger(slog.LevelInfo)}})
		out := logs.String()
		require.Equal(t, 1, strings.Count(out, "writing asynq tasks"), out)
		require.Contains(t, out, tt.want)
	}
}
