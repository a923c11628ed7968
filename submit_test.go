package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// startedAt records when each execution's job started.
type startedAt struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (s *startedAt) def(name string) *job.Definition {
	return job.Async(name, func(ctx context.Context, jc *job.Context) (any, error) {
		s.mu.Lock()
		if s.at == nil {
			s.at = map[string][]time.Time{}
		}
		s.at[jc.ExecutionID] = append(s.at[jc.ExecutionID], time.Now())
		s.mu.Unlock()
		return map[string]bool{"ok": true}, nil
	})
}

func (s *startedAt) runs(id string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at[id]...)
}

// TestRunAtSurvivesRestart: an execution submitted with a run time is
// scheduled (listed, counted, without a task) until then; the process that
// submitted it goes away, another one started later on the same Redis
// queues and runs it, and not before its time.
func TestRunAtSurvivesRestart(t *testing.T) {
	var st startedAt
	def := st.def("sched.later")
	b := setup(t, setupOpts{defs: []*job.Definition{def}, noWork: true})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.later", Instance: json.RawMessage(`{}`), RunIn: 2 * time.Second})
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, e.State)
	require.NotNil(t, e.RunAt)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, got.State)
	require.True(t, got.RunAt.Equal(*e.RunAt), "run_at is stored: %v vs %v", got.RunAt, e.RunAt)
	list, total, err := b.svc.List(ctx, solvekit.ListOptions{State: job.StateScheduled})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Equal(t, e.ID, list[0].ID)
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, counts[job.StateScheduled])
	require.EqualValues(t, 0, counts[job.StateQueued])
	require.NoError(t, b.svc.Close()) // the submitting process ends

	// A process started later on the same Redis runs it.
	svc2 := secondService(t, b, st.def("sched.later"))
	wctx, cancel := context.WithTimeout(ctx, patience.Scale(30*time.Second))
	defer cancel()
	done, err := svc2.Wait(wctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, done.State)
	runs := st.runs(e.ID)
	require.Len(t, runs, 1, "ran once")
	require.False(t, runs[0].Before(*e.RunAt), "ran at %v, before its run time %v", runs[0], *e.RunAt)
	require.False(t, done.StartedAt.Before(*e.RunAt))
	counts, err = svc2.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, counts[job.StateScheduled])
}

// TestCancelScheduled: a scheduled execution is stopped at once by Cancel,
// leaves the due set (never runs), and can then be deleted; before that,
// Delete refuses it.
func TestCancelScheduled(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.cancel")}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.cancel", Instance: json.RawMessage(`{}`), RunAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, e.State)
	require.Equal(t, job.CodeConflict, job.ErrorCode(b.svc.Delete(ctx, e.ID)), "a scheduled execution is stopped before it is deleted")
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateStopped, got.State)
	n, err := b.rdb.ZCard(ctx, "{solvekit}:sched:due").Result()
	require.NoError(t, err)
	require.Zero(t, n, "the due set no longer holds it")
	_, total, err := b.svc.List(ctx, solvekit.ListOptions{State: job.StateScheduled})
	require.NoError(t, err)
	require.Zero(t, total)
	require.NoError(t, b.svc.Delete(ctx, e.ID))

	// A run time in the past queues at once; run_at with run_in is refused.
	e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.cancel", Instance: json.RawMessage(`{}`), RunAt: time.Now().Add(-time.Minute)})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, e.State)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.cancel", Instance: json.RawMessage(`{}`), RunAt: time.Now().Add(time.Minute), RunIn: time.Minute})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
}

// TestScheduleInvalid: a bad cron spec, time zone, catch-up policy, job
// type, or a sync job type, is refused with CodeInvalid naming the field,
// and nothing is stored; run_at on a sync job type too.
func TestScheduleInvalid(t *testing.T) {
	var st startedAt
	syncDef := job.Sync("sched.sync", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil })
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.ok"), syncDef}, noWork: true})
	ctx := context.Background()
	in := json.RawMessage(`{}`)
	for name, c := range map[string]struct {
		req     solvekit.ScheduleRequest
		pointer string
	}{
		"cron":      {solvekit.ScheduleRequest{Cron: "61 * * * *", JobType: "sched.ok", Instance: in}, "/cron"},
		"cron text": {solvekit.ScheduleRequest{Cron: "every day", JobType: "sched.ok", Instance: in}, "/cron"},
		"tz":        {solvekit.ScheduleRequest{Cron: "* * * * *", TimeZone: "Mars/Olympus", JobType: "sched.ok", Instance: in}, "/time_zone"},
		"catch up":  {solvekit.ScheduleRequest{Cron: "* * * * *", CatchUp: "twice", JobType: "sched.ok", Instance: in}, "/catch_up"},
		"sync":      {solvekit.ScheduleRequest{Cron: "* * * * *", JobType: "sched.sync", Instance: in}, "/job_type"},
		"no input":  {solvekit.ScheduleRequest{Cron: "* * * * *", JobType: "sched.ok"}, "/instance"},
	} {
		_, err := b.svc.CreateSchedule(ctx, c.req)
		require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "%s: %v", name, err)
		var je *job.Error
		require.ErrorAs(t, err, &je)
		require.NotEmpty(t, je.Violations, name)
		require.Equal(t, c.pointer, je.Violations[0].Pointer, name)
	}
	_, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Cron: "* * * * *", JobType: "nope", Instance: in})
	require.Error(t, err)
	all, err := b.svc.Schedules(ctx, solvekit.ScheduleFilter{})
	require.NoError(t, err)
	require.Empty(t, all)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.sync", Instance: in, RunIn: time.Minute})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
}

// TestScheduleCRUD: create (next run planned in the time zone), read,
// list, update (disable: no next run; change the spec), delete.
func TestScheduleCRUD(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.crud")}, noWork: true})
	ctx := context.Background()
	sc, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Name: "nightly", Cron: "0 30 2 * * *", TimeZone: "Europe/Paris",
		JobType: "sched.crud", Instance: json.RawMessage(`{"x":1}`), Owner: "u1", Metadata: map[string]string{"team": "ops"}})
	require.NoError(t, err)
	require.True(t, sc.Enabled)
	require.Equal(t, solvekit.CatchUpSkip, sc.CatchUp)
	require.NotNil(t, sc.NextRun)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	local := sc.NextRun.In(paris)
	require.Equal(t, []int{2, 30, 0}, []int{local.Hour(), local.Minute(), local.Second()}, "02:30 in Paris: %v", local)
	require.True(t, sc.NextRun.After(time.Now()))

	got, err := b.svc.Schedule(ctx, sc.ID)
	require.NoError(t, err)
	require.Equal(t, sc.Cron, got.Cron)
	require.JSONEq(t, `{"x":1}`, string(got.Instance))
	require.True(t, got.NextRun.Equal(*sc.NextRun))
	mine, err := b.svc.Schedules(ctx, solvekit.ScheduleFilter{Owner: "u1"})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	others, err := b.svc.Schedules(ctx, solvekit.ScheduleFilter{Owner: "u2"})
	require.NoError(t, err)
	require.Empty(t, others)

	off := false
	got, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &off})
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Nil(t, got.NextRun)
	on, spec := true, "@hourly"
	got, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &on, Cron: &spec})
	require.NoError(t, err)
	require.Equal(t, "@hourly", got.Cron)
	require.NotNil(t, got.NextRun)
	require.Zero(t, got.NextRun.Minute())
	bad := "nonsense"
	_, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Cron: &bad})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))

	require.NoError(t, b.svc.DeleteSchedule(ctx, sc.ID))
	_, err = b.svc.Schedule(ctx, sc.ID)
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	require.Equal(t, job.CodeNotFound, job.ErrorCode(b.svc.DeleteSchedule(ctx, sc.ID)))
}

// TestScheduleOncePerTickTwoProcesses: two processes (two Services on one
// Redis, both running Work) and a schedule firing every second for about
// ten seconds create exactly one execution per tick: execution ids are
// "<schedule>-<tick>", every tick from the first to the last is there once
// (late ticks fire late, none is skipped or doubled), and each ran once.
func TestScheduleOncePerTickTwoProcesses(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.tick")}})
	secondService(t, b, st.def("sched.tick"))
	ctx := context.Background()
	sc, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Cron: "* * * * * *", JobType: "sched.tick", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	time.Sleep(10 * time.Second)
	off := false
	_, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &off})
	require.NoError(t, err)

	list := func() []*job.Execution {
		es, _, err := b.svc.List(ctx, solvekit.ListOptions{ScheduleID: sc.ID, Limit: 1000})
		require.NoError(t, err)
		return es
	}
	// Every execution created ends (so each ran, or would have run twice).
	require.Eventually(t, func() bool {
		for _, e := range list() {
			if !e.State.Terminal() {
				return false
			}
		}
		return true
	}, patience.Scale(30*time.Second), 50*time.Millisecond)
	es := list()
	ticks := map[int64]bool{}
	lo, hi := int64(1<<62), int64(0)
	for _, e := range es {
		require.Equal(t, sc.ID, e.ScheduleID)
		require.Equal(t, sc.ID, e.Metadata[solvekit.ScheduleLabel])
		// One created by a firing that was under way when the schedule
		// was disabled may still be running: wait for it.
		e = waitFor(t, b, e.ID, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		rest, ok := strings.CutPrefix(e.ID, sc.ID+"-")
		require.True(t, ok, e.ID)
		tick, err := strconv.ParseInt(rest, 10, 64)
		require.NoError(t, err)
		require.False(t, ticks[tick], "tick %d fired twice", tick)
		ticks[tick] = true
		lo, hi = min(lo, tick), max(hi, tick)
		require.Len(t, st.runs(e.ID), 1, "execution %s ran once", e.ID)
	}
	require.GreaterOrEqual(t, len(es), 5, "about ten ticks fired")
	require.EqualValues(t, hi-lo+1, len(es), "no tick between the first and the last is missing: %v", ticks)
	require.True(t, sc.NextRun.Unix() <= lo, "the first tick fired is the first planned or later")
	got, err := b.svc.Schedule(ctx, sc.ID)
	require.NoError(t, err)
	require.NotNil(t, got.LastRun)
	// The last tick, unless the disable came between its execution and
	// the schedule's move (then the one before).
	require.Contains(t, []int64{hi - 1, hi}, got.LastRun.Unix())
	require.Equal(t, sc.ID+"-"+strconv.FormatInt(got.LastRun.Unix(), 10), got.LastExecutionID)
}

// TestScheduleCatchUp: ticks missed while no process ran Work (older than
// ScheduleGrace) are dropped by policy skip, and run once (for the last
// missed tick) by policy once; both resume at the next tick.
func TestScheduleCatchUp(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.catch")}})
	ctx := context.Background()
	now := time.Now().UTC()
	// Yearly, on January 1st: the last missed tick and the next one are
	// plain to compute (the test does not run in the first minute of a
	// year).
	thisYear := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	nextYear := thisYear.AddDate(1, 0, 0)
	for _, policy := range []solvekit.CatchUp{solvekit.CatchUpSkip, solvekit.CatchUpOnce} {
		sc, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Cron: "0 0 0 1 1 *", JobType: "sched.catch",
			Instance: json.RawMessage(`{}`), CatchUp: policy})
		require.NoError(t, err)
		require.True(t, sc.NextRun.Equal(nextYear), "%v", sc.NextRun)
		// Play three years without any process: the next run is long past.
		require.NoError(t, solvekit.SetScheduleNextRun(ctx, b.svc, sc.ID, thisYear.AddDate(-3, 0, 0)))
		require.Eventually(t, func() bool {
			got, err := b.svc.Schedule(ctx, sc.ID)
			require.NoError(t, err)
			return got.NextRun != nil && got.NextRun.Equal(nextYear)
		}, patience.Scale(20*time.Second), 20*time.Millisecond, string(policy))
		es, _, err := b.svc.List(ctx, solvekit.ListOptions{ScheduleID: sc.ID})
		require.NoError(t, err)
		got, err := b.svc.Schedule(ctx, sc.ID)
		require.NoError(t, err)
		if policy == solvekit.CatchUpSkip {
			require.Empty(t, es, "skip runs none of the missed ticks")
			require.Nil(t, got.LastRun)
			continue
		}
		require.Len(t, es, 1, "once runs one execution for the missed period")
		require.Equal(t, sc.ID+"-"+strconv.FormatInt(thisYear.Unix(), 10), es[0].ID)
		require.True(t, got.LastRun.Equal(thisYear))
		waitFor(t, b, es[0].ID, 20*time.Second)
	}
}

// TestRunAtTwoStepPath: on the path where tasks are written through
// asynq's client (Redis Cluster, Config.AsynqPublicAPI), a due execution
// is queued by the script and then enqueued, and runs once, after its time.
func TestRunAtTwoStepPath(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.twostep")}, noWork: true})
	solvekit.SetFusedSubmit(b.svc, false) // before Work reads it
	ctx := context.Background()
	wctx, cancel := context.WithCancel(ctx)
	worked := make(chan struct{})
	go func() { defer close(worked); _ = b.svc.Work(wctx) }()
	t.Cleanup(func() { cancel(); <-worked })
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.twostep", Instance: json.RawMessage(`{}`), RunIn: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, e.State)
	done := waitFor(t, b, e.ID, 20*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	runs := st.runs(e.ID)
	require.Len(t, runs, 1)
	require.False(t, runs[0].Before(*e.RunAt))
}

// TestSubmitManyRunIn: a batch may hold executions due later: they are
// scheduled, without a task, and run once when due, beside the others.
func TestSubmitManyRunIn(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.many")}})
	ctx := context.Background()
	es, err := b.svc.SubmitMany(ctx, []solvekit.SubmitRequest{
		{JobType: "sched.many", Instance: json.RawMessage(`{}`)},
		{JobType: "sched.many", Instance: json.RawMessage(`{}`), RunIn: 500 * time.Millisecond},
	})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, es[0].State)
	require.Equal(t, job.StateScheduled, es[1].State)
	for _, e := range es {
		require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 20*time.Second).State)
		require.Len(t, st.runs(e.ID), 1)
	}
	require.False(t, st.runs(es[1].ID)[0].Before(*es[1].RunAt))
}

// flakyJob fails its first attempt with an unexpected error (retried as a
// new attempt) and succeeds on the next.
func flakyJob(opts ...job.Option) *job.Definition {
	return job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
		if jc.Attempt == 1 {
			return nil, errors.New("first attempt breaks")
		}
		return map[string]int{"attempt": jc.Attempt}, nil
	}, append([]job.Option{job.WithMaxRetries(2)}, opts...)...)
}

// workingService starts a second Service with cfg and defs, working until
// the test ends.
func workingService(t *testing.T, cfg solvekit.Config, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	return startService(t, cfg, defs, true)
}

// TestTagRouting: two workers on one Redis, one with WorkerTags ["gpu"] and
// one without. Every execution requiring "gpu" (by its submit, or by its
// job type's WithRequiredTags) runs on the gpu worker, and so do its
// retried and relaunched attempts; untagged ones run anywhere; one
// requiring a tag no worker has stays queued, visible in the queues view.
func TestTagRouting(t *testing.T) {
	b := setup(t, setupOpts{cfg: solvekit.Config{WorkerID: "plain", RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }},
		defs: []*job.Definition{sumJob(), flakyJob(), job.Async("render", func(ctx context.Context, jc *job.Context) (any, error) {
			return map[string]bool{"ok": true}, nil
		}, job.WithRequiredTags("gpu"))}})
	ctx := context.Background()
	workingService(t, solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger(), WorkerID: "gpu-box",
		WorkerTags: []string{"gpu"}, Concurrency: 4, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }},
		sumJob(), flakyJob(), job.Async("render", func(ctx context.Context, jc *job.Context) (any, error) {
			return map[string]bool{"ok": true}, nil
		}, job.WithRequiredTags("gpu")))

	in := json.RawMessage(`{"values":[1,2]}`)
	var plain, tagged []string
	for i := 0; i < 8; i++ {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in})
		require.NoError(t, err)
		plain = append(plain, e.ID)
		e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, RequireTags: []string{"gpu"}, Tags: []string{"batch"}})
		require.NoError(t, err)
		require.Equal(t, []string{"gpu"}, e.RequireTags)
		require.Equal(t, "default", e.Queue, "the record keeps its queue; only the task is routed")
		tagged = append(tagged, e.ID)
	}
	byType, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "render", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"gpu"}, byType.RequireTags, "the job type's required tags")
	tagged = append(tagged, byType.ID)
	flaky, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "flaky", Instance: json.RawMessage(`{}`), RequireTags: []string{"gpu"}})
	require.NoError(t, err)

	workers := map[string]int{}
	for _, id := range plain {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		workers[e.Worker]++
	}
	for _, id := range tagged {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		require.Equal(t, "gpu-box", e.Worker, "execution %s requires gpu", id)
	}
	t.Logf("untagged executions per worker: %v", workers)
	e := waitFor(t, b, flaky.ID, 20*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt, "the first attempt failed and was retried")
	require.Equal(t, "gpu-box", e.Worker, "the retried attempt kept its routing")

	// A relaunch is routed as the first attempt was.
	_, err = b.svc.Relaunch(ctx, tagged[0], solvekit.RelaunchRequest{})
	require.NoError(t, err)
	e = waitFor(t, b, tagged[0], 20*time.Second)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, "gpu-box", e.Worker)

	// A tag no worker has: the execution waits in its routed queue.
	stuck, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, RequireTags: []string{"gpu", "fpga"}})
	require.NoError(t, err)
	require.Equal(t, []string{"fpga", "gpu"}, stuck.RequireTags, "sorted")
	var pending int
	require.Eventually(t, func() bool {
		qs, err := b.svc.Queues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == "default~fpga+gpu" {
				pending = q.Pending
			}
		}
		return pending == 1
	}, patience.Scale(10*time.Second), 20*time.Millisecond, "the routed queue shows the waiting task")
	got, err := b.svc.Get(ctx, stuck.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, got.State)
	require.NoError(t, b.svc.Cancel(ctx, stuck.ID))
	require.Eventually(t, func() bool {
		qs, err := b.svc.Queues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == "default~fpga+gpu" {
				return q.Size == 0
			}
		}
		return false
	}, patience.Scale(10*time.Second), 20*time.Millisecond, "cancel removed the routed task")

	// Workers list their routed queues.
	ws, err := b.svc.Workers(ctx)
	require.NoError(t, err)
	var sawGPU bool
	for _, w := range ws {
		_, routed := w.Queues["default~gpu"]
		if w.ID == "gpu-box" || routed {
			sawGPU = sawGPU || routed
		}
	}
	require.True(t, sawGPU, "the gpu worker serves default~gpu: %+v", ws)
}

// TestTagValidation: malformed tags are refused with CodeInvalid and
// nothing is stored; so are worker tags at New.
func TestTagValidation(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob(), job.Sync("now", func(ctx context.Context, jc *job.Context) (any, error) {
		return 1, nil
	})}})
	ctx := context.Background()
	in := json.RawMessage(`{"values":[1]}`)
	many := make([]string, job.MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for _, req := range []solvekit.SubmitRequest{
		{JobType: "sum", Instance: in, Tags: []string{"GPU"}},
		{JobType: "sum", Instance: in, Tags: []string{"a,b"}},
		{JobType: "sum", Instance: in, Tags: []string{""}},
		{JobType: "sum", Instance: in, Tags: many},
		{JobType: "sum", Instance: in, RequireTags: []string{"a~b"}},
		{JobType: "sum", Instance: in, RequireTags: []string{"a", "b", "c", "d", "e", "f", "g"}},
		{JobType: "now", Instance: in, RequireTags: []string{"gpu"}}, // sync: this process lacks gpu
	} {
		_, err := b.svc.Submit(ctx, req)
		require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "%+v: %v", req, err)
	}
	l, err := b.svc.ListPage(ctx, solvekit.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, l.Executions)
	_, err = b.svc.Update(ctx, "nope", solvekit.ExecutionUpdate{Tags: &[]string{"BAD"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = b.svc.AttachTag(ctx, "Bad Tag", solvekit.TagTargets{})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = b.svc.CreateInstance(ctx, &job.Instance{Tags: []string{"x y"}}, []byte(`{}`))
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = solvekit.New(ctx, solvekit.Config{RedisURL: b.url, WorkerTags: []string{"Bad"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = solvekit.New(ctx, solvekit.Config{RedisURL: b.url, WorkerTags: []string{"a", "b", "c", "d", "e", "f", "g"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	require.Error(t, b.svc.Register(job.Async("badtags", func(ctx context.Context, jc *job.Context) (any, error) { return nil, nil }, job.WithTags("UPPER"))))
}

// TestTagsCRUD: tags on executions, instances and job types; the ?tag=
// filters with page tokens; attach, change, delete (the tag leaves every
// record and index) and retention-style deletes removing index entries.
func TestTagsCRUD(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob(),
		job.Async("mip", func(ctx context.Context, jc *job.Context) (any, error) { return nil, nil }, job.WithTags("solver", "gpu"))}})
	ctx := context.Background()
	in := json.RawMessage(`{"values":[1]}`)
	var red []string // newest last
	for i := 0; i < 7; i++ {
		tags := []string{"red"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, Tags: tags, Owner: "ann"})
		require.NoError(t, err)
		red = append(red, e.ID)
		time.Sleep(2 * time.Millisecond) // distinct creation times, for a stable order
	}
	blue, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, Tags: []string{"blue", "blue"}})
	require.NoError(t, err)
	require.Equal(t, []string{"blue"}, blue.Tags, "duplicates dropped")
	inst, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "i", Tags: []string{"red", "data"}}, []byte(`{"values":[2]}`))
	require.NoError(t, err)
	require.Equal(t, []string{"data", "red"}, inst.Tags)

	// ?tag= pages newest first with tokens, through the tag's own index.
	var seen []string
	tok := ""
	for {
		p, err := b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "red", Limit: 3, PageToken: tok})
		require.NoError(t, err)
		require.Equal(t, int64(7), p.Total)
		for _, e := range p.Executions {
			require.Contains(t, e.Tags, "red")
			seen = append(seen, e.ID)
		}
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	want := slices.Clone(red)
	slices.Reverse(want)
	require.Equal(t, want, seen)
	// A tag beside another filter: read from one index, checked on the rest.
	p, err := b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "even", Owner: "ann", State: job.StateQueued, JobType: "sum"})
	require.NoError(t, err)
	require.Len(t, p.Executions, 4)
	p, err = b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "even", Metadata: map[string]string{"k": "v"}})
	require.NoError(t, err)
	require.Empty(t, p.Executions)
	ip, err := b.svc.ListInstancesPage(ctx, solvekit.InstanceFilter{Tag: "red"})
	require.NoError(t, err)
	require.Len(t, ip.Instances, 1)
	require.Equal(t, inst.ID, ip.Instances[0].ID)
	ip, err = b.svc.ListInstancesPage(ctx, solvekit.InstanceFilter{Tag: "blue"})
	require.NoError(t, err)
	require.Empty(t, ip.Instances)

	// GET /tags: every tag with counts, job types' tags included, paged by name.
	var names []string
	var all []*solvekit.TagInfo
	tok = ""
	for {
		tp, err := b.svc.Tags(ctx, solvekit.TagListOptions{Limit: 2, PageToken: tok})
		require.NoError(t, err)
		require.LessOrEqual(t, len(tp.Tags), 2)
		for _, ti := range tp.Tags {
			names = append(names, ti.Name)
			all = append(all, ti)
		}
		if tok = tp.NextPageToken; tok == "" {
			break
		}
	}
	require.Equal(t, []string{"blue", "data", "even", "gpu", "red", "solver"}, names)
	for _, ti := range all {
		switch ti.Name {
		case "red":
			require.Equal(t, int64(7), ti.Executions)
			require.Equal(t, int64(1), ti.Instances)
		case "gpu":
			require.Equal(t, []string{"mip"}, ti.JobTypes)
			require.Zero(t, ti.Executions)
		}
	}

	// GET /tags/{tag}: executions newest first, then instances, paged.
	var items []solvekit.TaggedItem
	tok = ""
	for {
		tp, err := b.svc.TaggedItems(ctx, "red", solvekit.TagListOptions{Limit: 7, PageToken: tok})
		require.NoError(t, err)
		items = append(items, tp.Items...)
		if tok = tp.NextPageToken; tok == "" {
			break
		}
	}
	require.Len(t, items, 8)
	require.Equal(t, solvekit.TaggedItem{Kind: "execution", ID: red[6]}, items[0])
	require.Equal(t, solvekit.TaggedItem{Kind: "instance", ID: inst.ID}, items[7])

	// Attach to several records; change one record's tags.
	ti, err := b.svc.AttachTag(ctx, "blue", solvekit.TagTargets{ExecutionIDs: red[:2], InstanceIDs: []string{inst.ID}})
	require.NoError(t, err)
	require.Equal(t, int64(3), ti.Executions)
	require.Equal(t, int64(1), ti.Instances)
	_, err = b.svc.AttachTag(ctx, "blue", solvekit.TagTargets{ExecutionIDs: []string{"missing"}})
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	e, err := b.svc.Update(ctx, red[0], solvekit.ExecutionUpdate{Tags: &[]string{"green"}})
	require.NoError(t, err)
	require.Equal(t, []string{"green"}, e.Tags)
	p, err = b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "red"})
	require.NoError(t, err)
	require.Equal(t, int64(6), p.Total, "the red entry moved with the tags")

	// DELETE /tags/{tag}: the tag leaves every record and index.
	rm, err := b.svc.DeleteTag(ctx, "red")
	require.NoError(t, err)
	require.Equal(t, solvekit.TagRemoval{Executions: 6, Instances: 1}, *rm)
	_, err = b.svc.Tag(ctx, "red")
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	got, err := b.svc.Get(ctx, red[3])
	require.NoError(t, err)
	require.NotContains(t, got.Tags, "red")
	gi, err := b.svc.GetInstance(ctx, inst.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"blue", "data"}, gi.Tags)
	rm, err = b.svc.DeleteTag(ctx, "gpu")
	require.NoError(t, err)
	require.Equal(t, solvekit.TagRemoval{}, *rm, "job types keep their tags: nothing to remove")
	ti, err = b.svc.Tag(ctx, "gpu")
	require.NoError(t, err)
	require.Equal(t, []string{"mip"}, ti.JobTypes)
	_, err = b.svc.DeleteTag(ctx, "never-used")
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))

	// Deleting records (as retention does) removes their tag entries.
	require.NoError(t, b.svc.Cancel(ctx, blue.ID))
	require.NoError(t, b.svc.Delete(ctx, blue.ID))
	ti, err = b.svc.Tag(ctx, "blue")
	require.NoError(t, err)
	require.Equal(t, int64(1), ti.Executions, "red[1] is left (red[0]'s tags were replaced)")
	inst2, err := b.svc.CreateInstance(ctx, &job.Instance{Tags: []string{"solo"}}, []byte(`{}`))
	require.NoError(t, err)
	require.NoError(t, b.svc.DeleteInstance(ctx, inst2.ID))
	_, err = b.svc.Tag(ctx, "solo")
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	tp, err := b.svc.Tags(ctx, solvekit.TagListOptions{Limit: 100})
	require.NoError(t, err)
	for _, ti := range tp.Tags {
		require.NotEqual(t, "solo", ti.Name, "a tag nothing carries is dropped from the listing")
	}
}

// TestTagRoutingSweepers: the sweepers keep the routing too. A queued
// record requiring "gpu" whose task a crash left out is enqueued to the
// routed queue, and a running attempt whose worker died is requeued there:
// both then run on the gpu worker, whichever process sweeps.
func TestTagRoutingSweepers(t *testing.T) {
	fast := solvekit.Config{QueuedGrace: 200 * time.Millisecond, SweepInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second}
	plainCfg := fast
	plainCfg.WorkerID = "plain"
	b := setup(t, setupOpts{cfg: plainCfg, defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	gpuCfg := fast
	gpuCfg.RedisURL, gpuCfg.Logger, gpuCfg.WorkerID, gpuCfg.WorkerTags = b.url, b.svc2Logger(), "gpu-box", []string{"gpu"}
	workingService(t, gpuCfg, sumJob())
	// Several of each, so that a task put in the plain queue would likely
	// land on the plain worker at least once.
	st := solvekit.StoreOf(b.svc)
	past := time.Now().Add(-time.Second)
	var orphans, lost []string
	for i := 0; i < 6; i++ {
		for _, kind := range []string{"orphan", "lost"} {
			id := fmt.Sprintf("%s-gpu-%d", kind, i)
			e := &job.Execution{ID: id, JobType: "sum", Kind: job.KindAsync, Queue: "default",
				Config: json.RawMessage(`{"scale":1}`), CreatedAt: past, RequireTags: []string{"gpu"}}
			require.NoError(t, st.Create(ctx, e, json.RawMessage(`{"values":[4]}`)))
			if kind == "lost" {
				_, err := st.Start(ctx, id, 1, "dead-worker", time.Now().Add(-time.Minute))
				require.NoError(t, err)
				lost = append(lost, id)
			} else {
				orphans = append(orphans, id)
			}
		}
	}
	for _, id := range orphans {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		require.Equal(t, "gpu-box", e.Worker, id)
	}
	for _, id := range lost {
		e := waitFor(t, b, id, 30*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		require.Equal(t, 2, e.Attempt, "the dead worker's attempt was requeued")
		require.Equal(t, "gpu-box", e.Worker, id)
	}
}

// TestUnknownSolverRefusedWithoutDeclaredSolvers: a job type that declares
// no solvers refuses any solver name, from the request or from the config,
// as invalid input (422 over REST) with nothing stored; without a name it
// runs as before.
func TestUnknownSolverRefusedWithoutDeclaredSolvers(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	inst := json.RawMessage(`{"values":[1,2]}`)
	cases := []struct {
		name    string
		req     solvekit.SubmitRequest
		pointer string
	}{
		{"request field", solvekit.SubmitRequest{JobType: "sum", Instance: inst, Solver: "gurobi"}, "/solver"},
		{"config field", solvekit.SubmitRequest{JobType: "sum", Instance: inst, Config: json.RawMessage(`{"solver":"gurobi"}`)}, "/config/solver"},
		{"dotted name", solvekit.SubmitRequest{JobType: "sum", Instance: inst, Solver: "mip.cbc"}, "/solver"},
	}
	for _, c := range cases {
		_, err := b.svc.Submit(ctx, c.req)
		var je *job.Error
		require.True(t, errors.As(err, &je), "%s: want a job.Error, got %v", c.name, err)
		require.Equal(t, job.CodeInvalid, je.Code, c.name)
		require.Contains(t, je.Message, "unknown solver", c.name)
		require.Len(t, je.Violations, 1, c.name)
		require.Equal(t, c.pointer, je.Violations[0].Pointer, c.name)
	}
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	for st, n := range counts {
		require.Zero(t, n, "an execution was stored in state %s", st)
	}

	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: inst})
	require.NoError(t, err)
	require.Empty(t, e.Solver)
	e = waitFor(t, b, e.ID, 30*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
}

// TestDeclaredSolverChoice: a job type with declared solvers still accepts
// them (sub-solvers too) and refuses other names, pointing at where the
// name came from.
func TestDeclaredSolverChoice(t *testing.T) {
	def := job.Async("pick", func(ctx context.Context, jc *job.Context) (any, error) {
		return map[string]string{"solver": jc.Solver}, nil
	}, job.WithSolvers("a", "a", "b"))
	b := setup(t, setupOpts{defs: []*job.Definition{def}})
	ctx := context.Background()
	inst := json.RawMessage(`{}`)
	for req, want := range map[string]string{"": "a", "b": "b", "b.fast": "b.fast"} {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "pick", Instance: inst, Solver: req})
		require.NoError(t, err, req)
		require.Equal(t, want, e.Solver, req)
	}
	_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "pick", Instance: inst, Solver: "c"})
	var je *job.Error
	require.True(t, errors.As(err, &je), "got %v", err)
	require.Equal(t, "/solver", je.Violations[0].Pointer)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "pick", Instance: inst, Config: json.RawMessage(`{"solver":"c"}`)})
	require.True(t, errors.As(err, &je), "got %v", err)
	require.Equal(t, "/config/solver", je.Violations[0].Pointer)
}

// TestSubmitRefusesUnknownQueue: Submit accepts only a queue the
// configuration's workers serve (Config.Queues and the job types' own);
// any other is invalid, with nothing stored.
func TestSubmitRefusesUnknownQueue(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, cfg: solvekit.Config{Queues: map[string]int{"default": 1, "high": 5}},
		defs: []*job.Definition{sumJob(), job.Async("other", func(context.Context, *job.Context) (any, error) { return nil, nil }, job.WithQueue("reports"))}})
	ctx := context.Background()
	require.Equal(t, []string{"default", "high", "reports"}, b.svc.QueueNames())
	_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), Queue: "nowhere"})
	require.ErrorIs(t, err, job.ErrInvalid)
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/queue", je.Violations[0].Pointer)
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.Zero(t, counts[job.StateQueued], "nothing stored")
	for _, q := range []string{"", "high", "reports"} {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), Queue: q})
		require.NoError(t, err, q)
		if q == "" {
			q = "default"
		}
		require.Equal(t, q, e.Queue)
	}
}

type valuesInput struct {
	Values []float64 `json:"values" validate:"min=1"`
}

// typedSum is the README's typed example: values must not be empty.
func typedSum(kind job.Kind, calls *atomic.Int32) *job.Definition {
	fn := func(ctx context.Context, jc *job.Context, in valuesInput) (map[string]float64, error) {
		calls.Add(1)
		total := 0.0
		for _, v := range in.Values {
			total += v
		}
		return map[string]float64{"sum": total}, nil
	}
	if kind == job.KindSync {
		return job.SyncOf("sum", fn)
	}
	return job.AsyncOf("sum", fn)
}

// TestSubmitChecksTypedInput: Submit refuses an instance that breaks a
// typed job's `validate:` tags or does not decode into its input type:
// job.ErrInvalid with pointers into the request, like schema violations,
// and nothing stored, queued or run.
func TestSubmitChecksTypedInput(t *testing.T) {
	for _, kind := range []job.Kind{job.KindAsync, job.KindSync} {
		t.Run(string(kind), func(t *testing.T) {
			var calls atomic.Int32
			b := setup(t, setupOpts{defs: []*job.Definition{typedSum(kind, &calls)}})
			ctx := context.Background()
			for doc, want := range map[string]job.Violation{
				`{"values":[]}`:          {Pointer: "/instance/values", Keyword: "min"},
				`{"values":"1,2"}`:       {Pointer: "/instance/values", Keyword: "type"},
				`{"values":[1,"two",3]}`: {Pointer: "/instance/values/1", Keyword: "type"},
			} {
				_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(doc)})
				require.ErrorIs(t, err, job.ErrInvalid, doc)
				var je *job.Error
				require.ErrorAs(t, err, &je)
				require.Len(t, je.Violations, 1, doc)
				require.Equal(t, want.Pointer, je.Violations[0].Pointer, doc)
				require.Equal(t, want.Keyword, je.Violations[0].Keyword, doc)
			}
			list, total, err := b.svc.List(ctx, solvekit.ListOptions{})
			require.NoError(t, err)
			require.Zero(t, total, "nothing stored: %v", list)
			keys, err := b.rdb.Keys(ctx, "asynq:{default}:*").Result()
			require.NoError(t, err)
			require.Empty(t, keys, "nothing queued")

			e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
			require.NoError(t, err)
			e = waitFor(t, b, e.ID, time.Minute)
			require.Equal(t, job.StateSucceeded, e.State)
			require.EqualValues(t, 1, calls.Load(), "only the valid one ran")
		})
	}
}

// TestTypedDecodeErrorInWorkerFailsOnce: an instance the worker's typed
// job cannot take (stored before the type changed: here submitted through
// an untyped definition of the same name) fails the execution at the
// first attempt, with the violations; it is not retried.
func TestTypedDecodeErrorInWorkerFailsOnce(t *testing.T) {
	var calls atomic.Int32
	fast := func(int) time.Duration { return 10 * time.Millisecond }
	worker := setup(t, setupOpts{cfg: solvekit.Config{RetryDelay: fast}, defs: []*job.Definition{typedSum(job.KindAsync, &calls)}})
	// The submitter knows the job type without the typed input.
	submitter, err := solvekit.New(context.Background(), solvekit.Config{Redis: worker.rdb, Logger: worker.svc2Logger(), RetryDelay: fast})
	require.NoError(t, err)
	t.Cleanup(func() { submitter.Close() })
	require.NoError(t, submitter.Register(job.Async("sum", func(context.Context, *job.Context) (any, error) { return nil, nil })))

	ctx := context.Background()
	e, err := submitter.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[]}`)})
	require.NoError(t, err)
	e = waitFor(t, worker, e.ID, time.Minute)
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, 1, e.Attempt, "not retried")
	require.Zero(t, e.Retries)
	require.NotNil(t, e.Error)
	require.Equal(t, "failure", e.Error.Kind)
	require.Len(t, e.Error.Violations, 1)
	require.Equal(t, "/values", e.Error.Violations[0].Pointer)
	require.Equal(t, "min", e.Error.Violations[0].Keyword)
	require.Zero(t, calls.Load())
}
