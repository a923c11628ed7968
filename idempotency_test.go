package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// TestIdempotentSubmitConcurrent: 100 concurrent submits with one key make
// one execution; every caller gets it, and all but one hear it was a
// replay.
func TestIdempotentSubmitConcurrent(t *testing.T) {
	for _, fused := range []bool{true, false} {
		b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, noWork: true})
		solvekit.SetFusedSubmit(b.svc, fused)
		ctx := context.Background()
		var wg sync.WaitGroup
		results := make([]solvekit.Submitted, 100)
		errs := make([]error, 100)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = b.svc.SubmitOnce(ctx, solvekit.SubmitRequest{JobType: "sum", Owner: "alice",
					Instance: json.RawMessage(`{"values": [1, 2]}`), IdempotencyKey: "order-7"})
			}()
		}
		wg.Wait()
		ids := map[string]bool{}
		fresh := 0
		for i, r := range results {
			require.NoError(t, errs[i])
			ids[r.Execution.ID] = true
			if !r.Replayed {
				fresh++
			}
		}
		require.Len(t, ids, 1, "fused=%v", fused)
		require.Equal(t, 1, fresh)
		all, _, err := b.svc.List(ctx, solvekit.ListOptions{JobType: "sum"})
		require.NoError(t, err)
		require.Len(t, all, 1)
	}
}

// TestIdempotencyKeyRules: the same key with another request is refused;
// white space in the documents does not make another request; another
// owner's key is another key; a refused first submit leaves the key free.
func TestIdempotencyKeyRules(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, noWork: true})
	ctx := context.Background()
	req := solvekit.SubmitRequest{JobType: "sum", Owner: "alice", Instance: json.RawMessage(`{"values":[1,2]}`),
		Metadata: map[string]string{"a": "1", "b": "2"}, IdempotencyKey: "k1"}
	first, err := b.svc.SubmitOnce(ctx, req)
	require.NoError(t, err)
	require.False(t, first.Replayed)

	again := req
	again.Instance = json.RawMessage("{ \"values\" : [1, 2] }\n")
	again.Metadata = map[string]string{"b": "2", "a": "1"}
	r, err := b.svc.SubmitOnce(ctx, again)
	require.NoError(t, err)
	require.True(t, r.Replayed)
	require.Equal(t, first.Execution.ID, r.Execution.ID)
	e, err := b.svc.Submit(ctx, again)
	require.NoError(t, err, "Submit honours the key too")
	require.Equal(t, first.Execution.ID, e.ID)

	other := req
	other.Instance = json.RawMessage(`{"values":[1,3]}`)
	_, err = b.svc.SubmitOnce(ctx, other)
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "%v", err)
	require.Contains(t, err.Error(), "different request")

	bob := req
	bob.Owner = "bob"
	r, err = b.svc.SubmitOnce(ctx, bob)
	require.NoError(t, err)
	require.False(t, r.Replayed, "keys are per owner")
	require.NotEqual(t, first.Execution.ID, r.Execution.ID)

	// A first submit refused after the claim (a chosen id in use) stores
	// nothing and frees the key.
	taken := req
	taken.IdempotencyKey, taken.ID = "k2", first.Execution.ID
	_, err = b.svc.SubmitOnce(ctx, taken)
	require.Equal(t, job.CodeConflict, job.ErrorCode(err))
	taken.ID = "fresh-id"
	r, err = b.svc.SubmitOnce(ctx, taken)
	require.NoError(t, err, "a key whose first submit stored nothing is free again")
	require.False(t, r.Replayed)
	require.Equal(t, "fresh-id", r.Execution.ID)

	// Invalid input is refused before the key is claimed.
	bad := req
	bad.IdempotencyKey, bad.Instance = "k3", json.RawMessage(`{"values":"x"}`)
	_, err = b.svc.SubmitOnce(ctx, bad)
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	bad.Instance = req.Instance
	r, err = b.svc.SubmitOnce(ctx, bad)
	require.NoError(t, err)
	require.False(t, r.Replayed)
}

// TestIdempotencyDeletedExecution: once the execution a key named is
// deleted and its claim is older than the settling time, the key makes a
// new execution.
func TestIdempotencyDeletedExecution(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, noWork: true})
	ctx := context.Background()
	req := solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), IdempotencyKey: "k"}
	first, err := b.svc.SubmitOnce(ctx, req)
	require.NoError(t, err)
	require.NoError(t, b.svc.Cancel(ctx, first.Execution.ID))
	require.NoError(t, b.svc.Delete(ctx, first.Execution.ID))
	solvekit.AgeIdempotencyClaims(t)
	r, err := b.svc.SubmitOnce(ctx, req)
	require.NoError(t, err)
	require.False(t, r.Replayed)
	require.NotEqual(t, first.Execution.ID, r.Execution.ID)
}

// TestSubmitChosenID: a caller's id names the execution, on both submit
// paths (one script and two steps) and for sync jobs; an id in use is a
// conflict that leaves the first execution as it was, and a malformed one
// is invalid before anything is stored.
func TestSubmitChosenID(t *testing.T) {
	double := job.SyncOf("double", func(ctx context.Context, jc *job.Context, in struct{ X int }) (int, error) { return 2 * in.X, nil })
	for _, fused := range []bool{true, false} {
		b := setup(t, setupOpts{defs: []*job.Definition{sumJob(), double}, noWork: true})
		solvekit.SetFusedSubmit(b.svc, fused)
		ctx := context.Background()
		in := json.RawMessage(`{"values":[1,2]}`)

		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{ID: "order-42.v1", JobType: "sum", Instance: in, Name: "first"})
		require.NoError(t, err)
		require.Equal(t, "order-42.v1", e.ID)

		_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{ID: "order-42.v1", JobType: "sum", Instance: in, Name: "second"})
		require.Equal(t, job.CodeConflict, job.ErrorCode(err), "fused=%v: %v", fused, err)
		got, err := b.svc.Get(ctx, "order-42.v1")
		require.NoError(t, err)
		require.Equal(t, "first", got.Name)
		require.Equal(t, job.StateQueued, got.State)

		s, err := b.svc.Submit(ctx, solvekit.SubmitRequest{ID: "sync-1", JobType: "double", Instance: json.RawMessage(`{"X":21}`)})
		require.NoError(t, err)
		require.Equal(t, "sync-1", s.ID)
		require.Equal(t, job.StateSucceeded, s.State)
		_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{ID: "sync-1", JobType: "double", Instance: json.RawMessage(`{"X":1}`)})
		require.Equal(t, job.CodeConflict, job.ErrorCode(err))

		for _, bad := range []string{"a:b", "a b", "{tag}", "..", ".", string(make([]byte, 65)), "é"} {
			_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{ID: bad, JobType: "sum", Instance: in})
			require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "id %q", bad)
		}
		n, _, err := b.svc.List(ctx, solvekit.ListOptions{JobType: "sum"})
		require.NoError(t, err)
		require.Len(t, n, 1, "refused submits store nothing")
	}
}

// A submit repeated with the same idempotency key (after a timeout, say)
// returns the execution the first one created instead of a second one.
func ExampleService_SubmitOnce() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	defer svc.Close()
	_ = svc.Register(job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) { return 6, nil }))

	req := solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{}`), IdempotencyKey: "order-1234"}
	first, _ := svc.SubmitOnce(ctx, req)
	again, _ := svc.SubmitOnce(ctx, req)
	fmt.Println(first.Replayed, again.Replayed, again.Execution.ID == first.Execution.ID)
	// Output: false true true
}
