package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// TestSubmitMany: a batch is stored by one script and runs, on the fused
// path and on asynq's public API; subscribers hear every submit; an
// invalid request, a taken id, a sync job type or an idempotency key fail
// the whole batch with violations pointing into it, and store nothing.
func TestSubmitMany(t *testing.T) {
	for _, public := range []bool{false, true} {
		t.Run(fmt.Sprintf("public=%v", public), func(t *testing.T) {
			now := job.Sync("now", func(context.Context, *job.Context) (any, error) { return map[string]int{"n": 1}, nil })
			b := setup(t, setupOpts{defs: []*job.Definition{sumJob(), now}, cfg: solvekit.Config{AsynqPublicAPI: public}})
			ctx := context.Background()
			var mu sync.Mutex
			heard := map[string]bool{}
			defer b.svc.Subscribe(func(tr solvekit.Transition) {
				if tr.To == job.StateQueued && tr.Reason == "submit" {
					mu.Lock()
					heard[tr.ID] = true
					mu.Unlock()
				}
			})()

			reqs := make([]solvekit.SubmitRequest, 40)
			for i := range reqs {
				reqs[i] = solvekit.SubmitRequest{JobType: "sum", Owner: "alice", Metadata: map[string]string{"batch": "b1"},
					Instance: json.RawMessage(fmt.Sprintf(`{"values":[%d]}`, i))}
			}
			reqs[7].ID = "chosen-7"
			es, err := b.svc.SubmitMany(ctx, reqs)
			require.NoError(t, err)
			require.Len(t, es, len(reqs))
			require.Equal(t, "chosen-7", es[7].ID)
			for i, e := range es {
				require.Equal(t, job.StateQueued, e.State)
				done := waitFor(t, b, e.ID, 20*time.Second)
				require.Equal(t, job.StateSucceeded, done.State)
				require.JSONEq(t, fmt.Sprintf(`{"sum":%d}`, i), string(b.solution(t, e.ID)))
			}
			mu.Lock()
			require.Len(t, heard, len(reqs))
			mu.Unlock()
			page, err := b.svc.ListPage(ctx, solvekit.ListOptions{Metadata: map[string]string{"batch": "b1"}, Limit: 100})
			require.NoError(t, err)
			require.Len(t, page.Executions, len(reqs))

			count := func() int {
				p, err := b.svc.ListPage(ctx, solvekit.ListOptions{Owner: "bob", Limit: 100})
				require.NoError(t, err)
				return len(p.Executions)
			}
			good := solvekit.SubmitRequest{JobType: "sum", Owner: "bob", Instance: json.RawMessage(`{"values":[1]}`)}
			for _, tt := range []struct {
				name    string
				bad     solvekit.SubmitRequest
				code    job.Code
				pointer string
			}{
				{"invalid instance", solvekit.SubmitRequest{JobType: "sum", Owner: "bob", Instance: json.RawMessage(`{"values":"x"}`)}, job.CodeInvalid, "/1/instance/values"},
				{"unknown job type", solvekit.SubmitRequest{JobType: "nope", Owner: "bob", Instance: json.RawMessage(`{}`)}, job.CodeInvalid, "/1/job_type"},
				{"unknown instance", solvekit.SubmitRequest{JobType: "sum", Owner: "bob", InstanceID: "0193f0a0-0000-7000-8000-000000000000"}, job.CodeInvalid, "/1/instance_id"},
				{"sync job type", solvekit.SubmitRequest{JobType: "now", Owner: "bob", Instance: json.RawMessage(`{}`)}, job.CodeInvalid, "/1/job_type"},
				{"idempotency key", solvekit.SubmitRequest{JobType: "sum", Owner: "bob", Instance: json.RawMessage(`{"values":[1]}`), IdempotencyKey: "k"}, job.CodeInvalid, "/1/idempotency_key"},
				{"taken id", solvekit.SubmitRequest{ID: "chosen-7", JobType: "sum", Owner: "bob", Instance: json.RawMessage(`{"values":[1]}`)}, job.CodeConflict, ""},
			} {
				_, err := b.svc.SubmitMany(ctx, []solvekit.SubmitRequest{good, tt.bad, good})
				require.Equal(t, tt.code, job.ErrorCode(err), "%s: %v", tt.name, err)
				if tt.pointer != "" {
					var je *job.Error
					require.ErrorAs(t, err, &je)
					require.NotEmpty(t, je.Violations, tt.name)
					require.Equal(t, tt.pointer, je.Violations[0].Pointer, tt.name)
				}
				require.Zero(t, count(), "%s: nothing of the batch is stored", tt.name)
			}
			_, err = b.svc.SubmitMany(ctx, make([]solvekit.SubmitRequest, solvekit.MaxBatch+1))
			require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
		})
	}
}

// TestSubmitManyRoutesByTags: a batch's executions that require worker
// tags get their tasks on the routed queue, as Submit's do, and so does a
// scheduled one when it comes due: a worker without the tag (this one)
// leaves them all pending there.
func TestSubmitManyRoutesByTags(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, cfg: solvekit.Config{SchedulerInterval: 20 * time.Millisecond}})
	ctx := context.Background()
	in := json.RawMessage(`{"values":[1]}`)
	reqs := []solvekit.SubmitRequest{
		{JobType: "sum", Instance: in, RequireTags: []string{"gpu"}},
		{JobType: "sum", Instance: in, RequireTags: []string{"gpu"}},
		{JobType: "sum", Instance: in, RequireTags: []string{"gpu"}, RunIn: 50 * time.Millisecond},
	}
	es, err := b.svc.SubmitMany(ctx, reqs)
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, es[2].State)
	inspector := solvekit.InspectorOf(b.svc)
	require.Eventually(t, func() bool {
		info, err := inspector.GetQueueInfo("default~gpu")
		return err == nil && info.Pending == 3
	}, patience.Scale(10*time.Second), 10*time.Millisecond, "three tasks pending on default~gpu")
	for _, e := range es {
		got, err := b.svc.Get(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, job.StateQueued, got.State)
	}
}

// Submit three executions in one round trip; an invalid one would have
// failed them all.
func ExampleService_SubmitMany() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	defer svc.Close()
	_ = svc.Register(job.Async("double", func(ctx context.Context, jc *job.Context) (any, error) {
		var n int
		err := jc.DecodeInstance(&n)
		return 2 * n, err
	}))
	defer work(svc)()

	reqs := []solvekit.SubmitRequest{
		{JobType: "double", Instance: json.RawMessage(`1`)},
		{JobType: "double", Instance: json.RawMessage(`2`)},
		{JobType: "double", Instance: json.RawMessage(`3`)},
	}
	es, err := svc.SubmitMany(ctx, reqs)
	if err != nil {
		fmt.Println(err)
		return
	}
	var sols []string
	for _, e := range es {
		_, _ = svc.Wait(ctx, e.ID)
		sol, _ := svc.Solution(ctx, e.ID)
		sols = append(sols, string(sol))
	}
	fmt.Println(strings.Join(sols, " "))

	_, err = svc.SubmitMany(ctx, append(reqs, solvekit.SubmitRequest{JobType: "triple", Instance: json.RawMessage(`4`)}))
	fmt.Println(job.ErrorCode(err))
	// Output:
	// 2 4 6
	// invalid
}

// TestStartTransitionCarriesRunAt: the start of an execution submitted to
// run later tells subscribers when it was due, so that its queue wait (a
// metric) starts there rather than at its creation.
func TestStartTransitionCarriesRunAt(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}, cfg: solvekit.Config{SchedulerInterval: 20 * time.Millisecond}})
	ctx := context.Background()
	starts := make(chan solvekit.Transition, 4)
	defer b.svc.Subscribe(func(tr solvekit.Transition) {
		if tr.Reason == "start" {
			starts <- tr
		}
	})()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), RunIn: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NotNil(t, e.RunAt)
	select {
	case tr := <-starts:
		require.Equal(t, e.ID, tr.ID)
		require.NotNil(t, tr.RunAt)
		require.True(t, tr.RunAt.Equal(*e.RunAt), "%v vs %v", tr.RunAt, e.RunAt)
	case <-time.After(patience.Scale(20 * time.Second)):
		t.Fatal("no start")
	}
}
