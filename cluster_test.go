package solvekit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

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
