package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
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
