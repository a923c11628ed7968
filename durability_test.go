package solvekit_test

import (
	"context"
	"encoding/json"
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
