package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// replicatedStore is a store with Options.Replicas 1 on the primary of a
// new primary and replica pair, and a client on the replica.
func replicatedStore(t *testing.T, timeout time.Duration) (*store.Store, *redistest.Replicated, *redis.Client) {
	t.Helper()
	pair := redistest.StartReplicated(t, 1)
	replica := redis.NewClient(&redis.Options{Addr: pair.Replicas[0]})
	t.Cleanup(func() { replica.Close() })
	return storeOn(t, pair, timeout), pair, replica
}

// storeOn is a store with Options.Replicas 1 on pair's primary, its own
// client, WAITing at most timeout.
func storeOn(t *testing.T, pair *redistest.Replicated, timeout time.Duration) *store.Store {
	rdb := redis.NewClient(&redis.Options{Addr: pair.Primary})
	t.Cleanup(func() { rdb.Close() })
	return store.New(rdb, store.Options{Pipelines: 1, Replicas: 1, ReplicaTimeout: timeout})
}

// TestReplicatedBatchedCreates: concurrent creates, which the batcher
// sends in shared pipelines, each one's WAIT covering them all, are every
// one on the replica when they return.
func TestReplicatedBatchedCreates(t *testing.T) {
	s, _, replica := replicatedStore(t, patience.Scale(5*time.Second))
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	onReplica := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("e%d", i)
			errs[i] = s.Create(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`))
			if errs[i] == nil {
				onReplica[i], errs[i] = replica.Exists(ctx, "{solvekit}:x:"+id).Result()
			}
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.EqualValues(t, 1, onReplica[i], "e%d is on the replica when its create returns", i)
	}
}

// TestReplicatedFinishWhileTheReplicaSleeps: a finish that the replica
// does not acknowledge in time fails with ErrNotReplicated and code
// outcome_unknown; the primary has it, and the finish sent again once the
// replica is back succeeds.
func TestReplicatedFinishWhileTheReplicaSleeps(t *testing.T) {
	s, pair, _ := replicatedStore(t, 200*time.Millisecond)
	// The execution is created and started by a store that waits long
	// enough for a healthy replica on a loaded machine: only the finish
	// is to miss its WAIT.
	setup := storeOn(t, pair, patience.Scale(10*time.Second))
	ctx, now := context.Background(), time.Now()
	require.NoError(t, setup.Create(ctx, &job.Execution{ID: "f", JobType: "t", Queue: "default", CreatedAt: now}, json.RawMessage(`{}`)))
	_, err := setup.Start(ctx, "f", 1, "w", now)
	require.NoError(t, err)
	sleep := patience.Scale(2 * time.Second)
	redistest.Pause(t, pair.Replicas[0], sleep)
	out := store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}
	_, err = s.Finish(ctx, "f", 1, out, now)
	require.ErrorIs(t, err, store.ErrNotReplicated)
	require.Equal(t, job.CodeOutcomeUnknown, job.ErrorCode(err))
	e, err := s.Get(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, e.State, "the finish is on the primary")

	// Once the replica answers again, the same finish (guarded, so a no-op
	// on the primary) is acknowledged.
	out.Repeated = true
	require.Eventually(t, func() bool {
		_, err := s.Finish(ctx, "f", 1, out, now)
		return err == nil
	}, sleep+patience.Scale(30*time.Second), 100*time.Millisecond)
}
