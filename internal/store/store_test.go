package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

func newStore(t *testing.T) *store.Store {
	return store.New(redistest.Client(t), store.Options{})
}

func create(t *testing.T, s *store.Store, id, typ, owner string, at time.Time, md map[string]string) {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), &job.Execution{ID: id, JobType: typ, Owner: owner,
		Queue: "default", CreatedAt: at, Metadata: md}, json.RawMessage(`{}`)))
}

// startAttempt creates execution id and starts its attempt 1 at now.
func startAttempt(t *testing.T, s *store.Store, id string, now time.Time) {
	t.Helper()
	create(t, s, id, "t", "", now, nil)
	_, err := s.Start(context.Background(), id, 1, "w", now)
	require.NoError(t, err)
}

// activeTask is startAttempt, on a new store at now, with the attempt's
// asynq task (queue "q") in the active list and its hash, as asynq holds a
// task it runs; it returns the store, now and a maker of that task's
// completion.
func activeTask(t *testing.T, id string) (s *store.Store, now time.Time, task func() *store.TaskDone) {
	t.Helper()
	s, now = newStore(t), time.Now()
	startAttempt(t, s, id, now)
	rdb, ctx := s.Redis(), context.Background()
	require.NoError(t, rdb.LPush(ctx, "asynq:{q}:active", id+":1").Err())
	require.NoError(t, rdb.HSet(ctx, "asynq:{q}:t:"+id+":1", "msg", "m", "state", "active").Err())
	return s, now, func() *store.TaskDone {
		return &store.TaskDone{ID: id + ":1", ActiveKey: "asynq:{q}:active", LeaseKey: "asynq:{q}:lease",
			Key: "asynq:{q}:t:" + id + ":1", ProcessedKey: "asynq:{q}:processed:2026-01-02",
			ProcessedTotalKey: "asynq:{q}:processed", ExpireAt: now.Add(time.Hour).Unix()}
	}
}

func TestCreateIsUniqueAndRoundTrips(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.UnixMilli(1_700_000_000_000).UTC()
	e := &job.Execution{ID: "e1", JobType: "t", Kind: job.KindAsync, Name: "n", Solver: "mip.cbc", Queue: "q",
		Owner: "u1", InstanceID: "i1", Config: json.RawMessage(`{"a":1}`), Metadata: map[string]string{"k": "v"},
		Timeout: 1500 * time.Millisecond, MaxRetries: 2, CreatedAt: at}
	require.NoError(t, s.Create(ctx, e, json.RawMessage(`{"x":1}`)))
	require.ErrorIs(t, s.Create(ctx, e, nil), job.ErrConflict)
	got, err := s.Get(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, got.State)
	require.Equal(t, 1, got.Attempt)
	require.Equal(t, at, got.CreatedAt)
	require.Equal(t, 1500*time.Millisecond, got.Timeout)
	require.Equal(t, map[string]string{"k": "v"}, got.Metadata)
	require.JSONEq(t, `{"a":1}`, string(got.Config))
	in, err := s.Input(ctx, "e1")
	require.NoError(t, err)
	require.JSONEq(t, `{"x":1}`, string(in))
	_, err = s.Solution(ctx, "e1")
	require.ErrorIs(t, err, job.ErrNotFound)
	_, err = s.Get(ctx, "nope")
	require.ErrorIs(t, err, job.ErrNotFound)
}

func TestFollowAndLogs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	create(t, s, "f1", "t", "", time.Now(), nil)
	recs := make([]store.LogRecord, 5)
	for i := range recs {
		recs[i] = store.LogRecord{Time: time.Now(), Level: "INFO", Message: fmt.Sprint("line ", i), Attempt: 1, Attrs: map[string]any{"i": i}}
	}
	require.NoError(t, s.AppendLogs(ctx, "f1", recs))
	first, err := s.Logs(ctx, "f1", "", 2)
	require.NoError(t, err)
	require.Len(t, first, 2)
	rest, err := s.Logs(ctx, "f1", first[1].ID, 10)
	require.NoError(t, err)
	require.Len(t, rest, 3)
	require.Equal(t, "line 2", rest[0].Message)
	require.EqualValues(t, 2, rest[0].Attrs["i"])

	ok, err := s.EnsureEvents(ctx, "f1")
	require.NoError(t, err)
	require.True(t, ok)
	evs, cur, err := s.Follow(ctx, "f1", store.Cursor{}, 10*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, evs, 6) // queued + 5 log records
	// Nothing new: Follow blocks, then returns empty.
	evs, cur2, err := s.Follow(ctx, "f1", cur, 50*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, evs)
	require.Equal(t, cur, cur2)
	// A new event wakes a blocked reader.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = s.Start(context.Background(), "f1", 1, "w", time.Now())
	}()
	evs, _, err = s.Follow(ctx, "f1", cur, 5*time.Second)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "status", evs[0].Type)
	require.JSONEq(t, `{"state":"running","attempt":1,"worker":"w"}`, string(evs[0].Data))
}

func TestHeartbeatAndCancel(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	create(t, s, "h1", "t", "", time.Now(), nil)
	create(t, s, "h2", "t", "", time.Now(), nil)
	_, err := s.Start(ctx, "h1", 1, "w1", time.Now())
	require.NoError(t, err)
	_, err = s.Start(ctx, "h2", 1, "w1", time.Now())
	require.NoError(t, err)
	res, err := s.Cancel(ctx, "h1", time.Now())
	require.NoError(t, err)
	require.Equal(t, store.CancelRequested, res)
	cancel, gone, err := s.Heartbeat(ctx, "w1", []store.Running{{ID: "h1", Attempt: 1}, {ID: "h2", Attempt: 1}, {ID: "h3", Attempt: 1}}, time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"h1"}, cancel)
	require.Equal(t, []string{"h3"}, gone)
	// Another worker's heartbeat for h2 is refused.
	_, gone, err = s.Heartbeat(ctx, "w2", []store.Running{{ID: "h2", Attempt: 1}}, time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"h2"}, gone)
	stale, err := s.Stale(ctx, time.Now().Add(time.Second), 10)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"h1", "h2"}, stale)
	// A lost attempt whose cancel was requested ends stopped, not requeued.
	rq, err := s.Requeue(ctx, "h1", store.RequeueRequest{Mode: store.Lost, HeartbeatBefore: time.Now().Add(time.Second), MaxLost: 3}, time.Now())
	require.NoError(t, err)
	require.False(t, rq.Requeued)
	require.Equal(t, job.StateStopped, rq.State)
	// A fresh heartbeat protects an attempt from being declared lost.
	rq, err = s.Requeue(ctx, "h2", store.RequeueRequest{Mode: store.Lost, HeartbeatBefore: time.Now().Add(-time.Minute), MaxLost: 3}, time.Now())
	require.NoError(t, err)
	require.False(t, rq.Requeued)
	require.Equal(t, job.StateRunning, rq.State)
	// Lost too often: failed.
	rq, err = s.Requeue(ctx, "h2", store.RequeueRequest{Mode: store.Lost, HeartbeatBefore: time.Now().Add(time.Second), MaxLost: 0,
		Error: &job.ErrorInfo{Kind: "lost", Message: "gone"}}, time.Now())
	require.NoError(t, err)
	require.Equal(t, job.StateFailed, rq.State)
	got, err := s.Get(ctx, "h2")
	require.NoError(t, err)
	require.Equal(t, "lost", got.Error.Kind)
	counts, err := s.CountByState(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, counts[job.StateStopped])
	require.EqualValues(t, 1, counts[job.StateFailed])
	require.EqualValues(t, 0, counts[job.StateRunning])
	// Finished executions can be deleted; their index entries go too.
	require.NoError(t, s.Delete(ctx, "h2"))
	_, err = s.Get(ctx, "h2")
	require.ErrorIs(t, err, job.ErrNotFound)
	counts, err = s.CountByState(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, counts[job.StateFailed])
}

func TestDeleteRefusesActive(t *testing.T) {
	s := newStore(t)
	create(t, s, "d1", "t", "u", time.Now(), nil)
	require.ErrorIs(t, s.Delete(context.Background(), "d1"), job.ErrConflict)
}

func TestInstances(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		require.NoError(t, s.CreateInstance(ctx, &store.Instance{ID: fmt.Sprint("i", i), Owner: "u", Format: "json",
			CreatedAt: time.Now().Add(time.Duration(i) * time.Second)}, []byte(`{"a":1}`)))
	}
	l, err := s.ListInstances(ctx, "u", "", store.Page{Limit: 2})
	require.NoError(t, err)
	require.EqualValues(t, 3, l.Total)
	require.Equal(t, "i2", l.Items[0].ID)
	require.EqualValues(t, 7, l.Items[0].Size)
	rest, err := s.ListInstances(ctx, "u", "", store.Page{Limit: 2, Token: l.Next})
	require.NoError(t, err)
	require.Len(t, rest.Items, 1)
	require.Equal(t, "i0", rest.Items[0].ID)
	require.Empty(t, rest.Next)
	data, err := s.InstanceData(ctx, "i1")
	require.NoError(t, err)
	require.JSONEq(t, `{"a":1}`, string(data))
	require.NoError(t, s.DeleteInstance(ctx, "i1"))
	_, err = s.GetInstance(ctx, "i1")
	require.ErrorIs(t, err, job.ErrNotFound)
}

// TestLazyEventStream: a plain life (create, start, finish) writes no event
// stream; the first reader gets the history the record implies, in order,
// with the running event no later than the first log record. A report
// (progress) creates the stream with that history first, and later
// transitions append to it.
func TestLazyEventStream(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	statuses := func(evs []store.Event) []string {
		var out []string
		for _, e := range evs {
			var d struct {
				State   string `json:"state"`
				Attempt int    `json:"attempt"`
			}
			require.NoError(t, json.Unmarshal(e.Data, &d))
			out = append(out, fmt.Sprintf("%s:%s/%d", e.Type, d.State, d.Attempt))
		}
		return out
	}
	t0 := time.Now().Add(-time.Minute)
	create(t, s, "z1", "t", "", t0, nil)
	_, err := s.Start(ctx, "z1", 1, "w", t0.Add(time.Second))
	require.NoError(t, err)
	require.NoError(t, s.AppendLogs(ctx, "z1", []store.LogRecord{{Time: time.Now(), Level: "INFO", Message: "hi", Attempt: 1}}))
	ok, err := s.Finish(ctx, "z1", 1, store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	evs, err := s.Events(ctx, "z1", "", 100)
	require.NoError(t, err)
	require.Equal(t, []string{"status:queued/1", "status:running/1", "status:succeeded/1"}, statuses(evs))
	again, err := s.Events(ctx, "z1", "", 100)
	require.NoError(t, err)
	require.Equal(t, evs, again, "the history is written once")
	// Follow interleaves by id: the running event comes before the log record.
	evs, _, err = s.Follow(ctx, "z1", store.Cursor{}, time.Millisecond)
	require.NoError(t, err)
	var order []string
	for _, e := range evs {
		order = append(order, e.Type)
	}
	require.Equal(t, []string{"status", "status", "log", "status"}, order)

	// A progress report creates the stream with the history first.
	create(t, s, "z2", "t", "", time.Now(), nil)
	_, err = s.Start(ctx, "z2", 1, "w", time.Now())
	require.NoError(t, err)
	require.NoError(t, s.Progress(ctx, "z2", 1, 0.5, "half"))
	ok, err = s.Finish(ctx, "z2", 1, store.Outcome{State: job.StateFailed, SolverStatus: job.StatusNotSolved}, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	evs, err = s.Events(ctx, "z2", "", 100)
	require.NoError(t, err)
	require.Equal(t, []string{"status:queued/1", "status:running/1", "progress:/1", "status:failed/1"}, statuses(evs))

	// A retry keeps the first attempt's history before the new attempt's.
	create(t, s, "z3", "t", "", time.Now(), nil)
	_, err = s.Start(ctx, "z3", 1, "w", time.Now())
	require.NoError(t, err)
	res, err := s.Requeue(ctx, "z3", store.RequeueRequest{Mode: store.Retry, Attempt: 1}, time.Now())
	require.NoError(t, err)
	require.True(t, res.Requeued)
	_, err = s.Start(ctx, "z3", 2, "w", time.Now())
	require.NoError(t, err)
	evs, err = s.Events(ctx, "z3", "", 100)
	require.NoError(t, err)
	require.Equal(t, []string{"status:queued/1", "status:running/1", "status:queued/2", "status:running/2"}, statuses(evs))

	// Cancelling a queued execution: queued, then stopped.
	create(t, s, "z4", "t", "", time.Now(), nil)
	cr, err := s.Cancel(ctx, "z4", time.Now())
	require.NoError(t, err)
	require.Equal(t, store.CancelStopped, cr)
	evs, err = s.Events(ctx, "z4", "", 100)
	require.NoError(t, err)
	require.Equal(t, []string{"status:queued/1", "status:stopped/1"}, statuses(evs))

	ok, err = s.EnsureEvents(ctx, "nope")
	require.NoError(t, err)
	require.False(t, ok)
}

// Start returns what a worker needs of the record, as Get would show it.
func TestStartReturnsTheWorkersFields(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.UnixMilli(1_700_000_000_000).UTC()
	e := &job.Execution{ID: "s1", JobType: "t", Kind: job.KindAsync, Name: "n", Solver: "mip.cbc", Queue: "q",
		Config: json.RawMessage(`{"a":1}`), Metadata: map[string]string{"k": "v"},
		Timeout: 1500 * time.Millisecond, MaxRetries: 2, CreatedAt: at,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	require.NoError(t, s.Create(ctx, e, json.RawMessage(`{"x":1}`)))
	now := at.Add(time.Second)
	st, err := s.Start(ctx, "s1", 1, "w1", now)
	require.NoError(t, err)
	require.JSONEq(t, `{"x":1}`, string(st.Input))
	got := st.Execution
	require.Equal(t, "s1", got.ID)
	require.Equal(t, "t", got.JobType)
	require.Equal(t, job.KindAsync, got.Kind)
	require.Equal(t, "mip.cbc", got.Solver)
	require.Equal(t, "q", got.Queue)
	require.JSONEq(t, `{"a":1}`, string(got.Config))
	require.Equal(t, map[string]string{"k": "v"}, got.Metadata)
	require.Equal(t, 1500*time.Millisecond, got.Timeout)
	require.Equal(t, 2, got.MaxRetries)
	require.Equal(t, 1, got.Attempt)
	require.Equal(t, at, got.CreatedAt)
	require.Equal(t, job.StateRunning, got.State)
	require.Equal(t, "w1", got.Worker)
	require.Equal(t, now, *got.StartedAt)
	require.Equal(t, e.TraceParent, got.TraceParent)

	// What Start wrote is what Get reads.
	rec, err := s.Get(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, e.TraceParent, rec.TraceParent)
	require.Equal(t, job.StateRunning, rec.State)
	require.Equal(t, "w1", rec.Worker)
	require.Equal(t, now, *rec.StartedAt)
	require.Equal(t, now, *rec.Heartbeat)

	// A second start of the same attempt is refused.
	_, err = s.Start(ctx, "s1", 1, "w2", now)
	require.ErrorIs(t, err, store.ErrNotStartable)
	_, err = s.Start(ctx, "nope", 1, "w2", now)
	require.ErrorIs(t, err, store.ErrNotStartable)
}

// Stale finds running executions by their heartbeat, or their start before
// the first heartbeat, and nothing else.
func TestStale(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, id := range []string{"old", "beating", "fresh", "queued", "done"} {
		create(t, s, id, "t", "", base.Add(time.Duration(i)*time.Millisecond), nil)
	}
	for _, id := range []string{"old", "beating", "done"} {
		_, err := s.Start(ctx, id, 1, "w1", base)
		require.NoError(t, err)
	}
	_, err := s.Start(ctx, "fresh", 1, "w1", base.Add(time.Hour))
	require.NoError(t, err)
	_, _, err = s.Heartbeat(ctx, "w1", []store.Running{{ID: "beating", Attempt: 1}}, base.Add(50*time.Minute))
	require.NoError(t, err)
	ok, err := s.Finish(ctx, "done", 1, store.Outcome{State: job.StateSucceeded}, base)
	require.NoError(t, err)
	require.True(t, ok)

	ids, err := s.Stale(ctx, base.Add(10*time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, []string{"old"}, ids)
	ids, err = s.Stale(ctx, base.Add(55*time.Minute), 100)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"old", "beating"}, ids)
	ids, err = s.Stale(ctx, base.Add(2*time.Hour), 2)
	require.NoError(t, err)
	require.Len(t, ids, 2, "limit")
}

// FinishedBefore returns exactly the executions that finished before t,
// whatever their terminal state and creation time.
func TestFinishedBefore(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cut := base.Add(30 * time.Minute)
	finish := func(id string, created, finished time.Time, st job.State) {
		t.Helper()
		create(t, s, id, "t", "", created, nil)
		_, err := s.Start(ctx, id, 1, "w1", created)
		require.NoError(t, err)
		ok, err := s.Finish(ctx, id, 1, store.Outcome{State: st}, finished)
		require.NoError(t, err)
		require.True(t, ok)
	}
	finish("early-ok", base, base.Add(time.Minute), job.StateSucceeded)
	finish("early-failed", base.Add(time.Second), base.Add(2*time.Minute), job.StateFailed)
	finish("across", base.Add(2*time.Second), cut.Add(time.Minute), job.StateSucceeded)
	finish("late", cut.Add(time.Second), cut.Add(2*time.Minute), job.StateSucceeded)
	create(t, s, "queued", "t", "", base, nil)
	_, err := s.Cancel(ctx, "queued", base.Add(3*time.Minute))
	require.NoError(t, err)
	create(t, s, "waiting", "t", "", base, nil)

	ids, err := s.FinishedBefore(ctx, cut, 100)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"early-ok", "early-failed", "queued"}, ids)
	ids, err = s.FinishedBefore(ctx, cut, 2)
	require.NoError(t, err)
	require.Len(t, ids, 2)
	ids, err = s.FinishedBefore(ctx, cut.Add(time.Hour), 100)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"early-ok", "early-failed", "queued", "across", "late"}, ids)
}

// Stale pages through the running index: more running executions than one
// page are all seen.
func TestStalePages(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	const n = 1100 // more than two pages
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%04d", i)
		create(t, s, id, "t", "", base.Add(time.Duration(i)*time.Millisecond), nil)
		_, err := s.Start(ctx, id, 1, "w1", base)
		require.NoError(t, err)
	}
	ids, err := s.Stale(ctx, base.Add(time.Minute), 10*n)
	require.NoError(t, err)
	require.Len(t, ids, n)
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	require.Len(t, seen, n, "no id twice")
}

// TestFinishCompletesTask: a finish given its queue task completes it as
// asynq's done script does (active list, lease, hash, counters; the total
// wraps to 1 past the largest integer), and a finish that is ignored (a
// stale attempt) leaves the task alone.
func TestFinishCompletesTask(t *testing.T) {
	s, now, task := activeTask(t, "c1")
	rdb, ctx := s.Redis(), context.Background()
	require.NoError(t, rdb.LPush(ctx, "asynq:{q}:active", "other").Err())
	require.NoError(t, rdb.ZAdd(ctx, "asynq:{q}:lease", redis.Z{Score: 1, Member: "c1:1"}).Err())
	require.NoError(t, rdb.Set(ctx, "asynq:{q}:processed", math.MaxInt64, 0).Err())

	stale := task()
	ok, err := s.Finish(ctx, "c1", 2, store.Outcome{State: job.StateSucceeded, Task: stale}, now)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, stale.Completed)
	require.EqualValues(t, 2, rdb.LLen(ctx, "asynq:{q}:active").Val(), "an ignored finish completes nothing")

	td := task()
	ok, err = s.Finish(ctx, "c1", 1, store.Outcome{State: job.StateSucceeded, Task: td}, now)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, td.Completed)
	require.Equal(t, []string{"other"}, rdb.LRange(ctx, "asynq:{q}:active", 0, -1).Val())
	require.Zero(t, rdb.ZCard(ctx, "asynq:{q}:lease").Val())
	require.Zero(t, rdb.Exists(ctx, "asynq:{q}:t:c1:1").Val())
	require.Equal(t, "1", rdb.Get(ctx, "asynq:{q}:processed:2026-01-02").Val())
	require.Positive(t, rdb.TTL(ctx, "asynq:{q}:processed:2026-01-02").Val())
	require.Equal(t, "1", rdb.Get(ctx, "asynq:{q}:processed").Val(), "the total wraps as asynq's does")
	e, err := s.Get(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, e.State)
}

// TestStartSentAgain: a Start sent again by the worker that started the
// attempt (its first reply lost) succeeds as a resume and writes nothing;
// another worker, or another attempt, is refused.
func TestStartSentAgain(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_700_000_000_000)
	create(t, s, "r1", "t", "", t0, nil)
	first, err := s.Start(ctx, "r1", 1, "w1", t0)
	require.NoError(t, err)
	require.False(t, first.Resumed)
	again, err := s.Start(ctx, "r1", 1, "w1", t0.Add(time.Second))
	require.NoError(t, err)
	require.True(t, again.Resumed)
	require.Equal(t, first.Execution.JobType, again.Execution.JobType)
	_, err = s.Start(ctx, "r1", 1, "w2", t0)
	require.ErrorIs(t, err, store.ErrNotStartable)
	_, err = s.Start(ctx, "r1", 2, "w1", t0)
	require.ErrorIs(t, err, store.ErrNotStartable)
	e, err := s.Get(ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, job.StateRunning, e.State)
	require.Equal(t, "w1", e.Worker)
	require.Equal(t, t0.UnixMilli(), e.StartedAt.UnixMilli(), "the resume wrote nothing")
	// Once finished, the same worker's Start is refused too.
	ok, err := s.Finish(ctx, "r1", 1, store.Outcome{State: job.StateSucceeded}, t0)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = s.Start(ctx, "r1", 1, "w1", t0)
	require.ErrorIs(t, err, store.ErrNotStartable)
}

// TestFinishSentAgainFindsTaskGone: a finish sent again after its first
// send ran (reply lost) is ignored, and reports the task completed since
// the first send removed it: asynq's Done for it must not be sent.
func TestFinishSentAgainFindsTaskGone(t *testing.T) {
	s, now, task := activeTask(t, "g1")
	rdb, ctx := s.Redis(), context.Background()
	first := task()
	ok, err := s.Finish(ctx, "g1", 1, store.Outcome{State: job.StateSucceeded, Task: first}, now)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, first.Completed)
	again := task()
	ok, err = s.Finish(ctx, "g1", 1, store.Outcome{State: job.StateSucceeded, Task: again}, now)
	require.NoError(t, err)
	require.False(t, ok, "written once")
	require.True(t, again.Completed, "the task the first send completed is reported gone")
	require.Equal(t, "1", rdb.Get(ctx, "asynq:{q}:processed").Val(), "counted once")
}

// TestCancelAcceptedWinsOverFinish: a cancel accepted while an attempt
// runs (Cancel answered "requested") ends the execution stopped, whatever
// the attempt then reports and however late its worker heard of the
// cancel: a finish as succeeded keeps its solution and verdict but is
// stopped; a finish as failed keeps the last incumbent as solution; a
// retry (or a worker's shutdown) does not requeue it.
func TestCancelAcceptedWinsOverFinish(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	running := func(id string) { startAttempt(t, s, id, now) }
	cancel := func(id string) {
		t.Helper()
		res, err := s.Cancel(ctx, id, now)
		require.NoError(t, err)
		require.Equal(t, store.CancelRequested, res)
	}
	get := func(id string) *job.Execution {
		t.Helper()
		e, err := s.Get(ctx, id)
		require.NoError(t, err)
		return e
	}
	// finish ends id's attempt 1 with o; the accepted cancel makes it
	// stopped with solver status want.
	finish := func(id string, o store.Outcome, want job.SolverStatus, msg ...any) *job.Execution {
		t.Helper()
		ok, err := s.Finish(ctx, id, 1, o, now)
		require.NoError(t, err)
		require.True(t, ok)
		e := get(id)
		require.Equal(t, job.StateStopped, e.State)
		require.Equal(t, want, e.SolverStatus, msg...)
		return e
	}
	counts := func() map[job.State]int64 {
		t.Helper()
		c, err := s.CountByState(ctx)
		require.NoError(t, err)
		return c
	}

	// Finished as succeeded after the cancel: stopped, with the solution.
	running("ok")
	cancel("ok")
	e := finish("ok", store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal,
		Solution: json.RawMessage(`{"x":1}`), Objective: job.Float(3)}, job.StatusOptimal, "the verdict on the returned solution is kept")
	require.True(t, e.HasSolution)
	require.Equal(t, 3.0, *e.Objective)
	sol, err := s.Solution(ctx, "ok")
	require.NoError(t, err)
	require.JSONEq(t, `{"x":1}`, string(sol))

	// Failed after the cancel, with an incumbent: stopped with it.
	running("inc")
	require.NoError(t, s.SetIncumbent(ctx, "inc", 1, json.RawMessage(`{"x":2}`), job.Float(2)))
	cancel("inc")
	e = finish("inc", store.Outcome{State: job.StateFailed, SolverStatus: job.StatusNotSolved,
		Incumbent: true, Error: &job.ErrorInfo{Kind: "panic", Message: "boom"}}, job.StatusFeasible)
	require.True(t, e.HasSolution)
	sol, err = s.Solution(ctx, "inc")
	require.NoError(t, err)
	require.JSONEq(t, `{"x":2}`, string(sol))
	_, err = s.Incumbent(ctx, "inc")
	require.ErrorIs(t, err, job.ErrNotFound)

	// Timed out after the cancel, without a solution: stopped, not_solved.
	running("none")
	cancel("none")
	e = finish("none", store.Outcome{State: job.StateTimedOut, SolverStatus: job.StatusTimeLimit}, job.StatusNotSolved)
	require.False(t, e.HasSolution)

	// A retry after the cancel: stopped with the incumbent, not requeued.
	running("retry")
	require.NoError(t, s.SetIncumbent(ctx, "retry", 1, json.RawMessage(`{"x":4}`), job.Float(4)))
	cancel("retry")
	res, err := s.Requeue(ctx, "retry", store.RequeueRequest{Mode: store.Retry, Attempt: 1,
		Error: &job.ErrorInfo{Kind: "error", Message: "worker shut down during the attempt"}}, now)
	require.NoError(t, err)
	require.False(t, res.Requeued)
	require.Equal(t, job.StateStopped, res.State)
	e = get("retry")
	require.Equal(t, job.StateStopped, e.State)
	require.Equal(t, 1, e.Attempt)
	require.Equal(t, job.StatusFeasible, e.SolverStatus)
	require.True(t, e.HasSolution)

	// Without a cancel, nothing changes.
	running("plain")
	ok, err := s.Finish(ctx, "plain", 1, store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}, now)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, job.StateSucceeded, get("plain").State)

	c := counts()
	require.EqualValues(t, 4, c[job.StateStopped], "the state index follows the state")
	require.EqualValues(t, 1, c[job.StateSucceeded])
	require.Zero(t, c[job.StateFailed]+c[job.StateTimedOut]+c[job.StateRunning]+c[job.StateQueued])
}

// TestJobKey: a job key is stored as its raw SHA-256 (32 bytes) and checked
// in constant time; a record an earlier release wrote, with the hex digest
// under job_key_sha256, still checks.
func TestJobKey(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	e := &job.Execution{ID: "k1", JobType: "t", Queue: "default", CreatedAt: time.Now()}
	require.NoError(t, s.CreateNew(ctx, e, json.RawMessage(`{}`), nil, "s3cret"))
	stored, err := s.Redis().HGet(ctx, s.Prefix()+":x:k1", "jk").Result()
	require.NoError(t, err)
	require.Len(t, stored, 32)
	for key, want := range map[string]bool{"s3cret": true, "other": false, "": false} {
		ok, err := s.CheckJobKey(ctx, "k1", key)
		require.NoError(t, err)
		require.Equal(t, want, ok, "key %q", key)
	}

	// A legacy record: the hex digest under the old field name.
	create(t, s, "k2", "t", "", time.Now(), nil)
	sum := sha256.Sum256([]byte("old-key"))
	require.NoError(t, s.Redis().HSet(ctx, s.Prefix()+":x:k2", "job_key_sha256", hex.EncodeToString(sum[:])).Err())
	ok, err := s.CheckJobKey(ctx, "k2", "old-key")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.CheckJobKey(ctx, "k2", "s3cret")
	require.NoError(t, err)
	require.False(t, ok)

	// SetJobKey on an existing record; none on a missing one.
	require.NoError(t, s.SetJobKey(ctx, "k2", "new-key"))
	ok, err = s.CheckJobKey(ctx, "k2", "new-key")
	require.NoError(t, err)
	require.True(t, ok)
	require.ErrorIs(t, s.SetJobKey(ctx, "missing", "x"), job.ErrNotFound)
	ok, err = s.CheckJobKey(ctx, "missing", "x")
	require.NoError(t, err)
	require.False(t, ok)
}

// TestCreateMany: one script writes every record of a batch, all or none:
// a chosen id that exists refuses the whole batch, a batch sent again
// after its reply was lost (every generated id exists) succeeds, and an id
// twice in one batch is refused.
func TestCreateMany(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	item := func(id string, chosen bool) store.NewExecution {
		return store.NewExecution{E: &job.Execution{ID: id, JobType: "t", Owner: "o", Queue: "default", CreatedAt: now},
			Input: json.RawMessage(`{"id":"` + id + `"}`), Chosen: chosen, JobKey: "k-" + id}
	}
	batch := []store.NewExecution{item("m1", false), item("m2", false), item("m3", false)}
	require.NoError(t, s.CreateMany(ctx, batch))
	for _, id := range []string{"m1", "m2", "m3"} {
		e, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, job.StateQueued, e.State)
		in, err := s.Input(ctx, id)
		require.NoError(t, err)
		require.JSONEq(t, `{"id":"`+id+`"}`, string(in))
		ok, err := s.CheckJobKey(ctx, id, "k-"+id)
		require.NoError(t, err)
		require.True(t, ok)
	}
	page, err := s.List(ctx, store.Filter{Owner: "o"}, store.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 3)
	require.EqualValues(t, 3, page.Total)

	// Sent again (a lost reply): the same generated ids, success.
	require.NoError(t, s.CreateMany(ctx, []store.NewExecution{item("m1", false), item("m2", false), item("m3", false)}))

	// A chosen id that exists: nothing of the batch is written.
	err = s.CreateMany(ctx, []store.NewExecution{item("m4", true), item("m2", true)})
	require.Equal(t, job.CodeConflict, job.ErrorCode(err))
	require.Contains(t, err.Error(), `"m2"`)
	_, err = s.Get(ctx, "m4")
	require.ErrorIs(t, err, job.ErrNotFound)

	// Tags and a run time: the tag indexes and the due set are written as
	// create writes them.
	tagged, later := item("m6", false), item("m7", false)
	tagged.E.Tags = []string{"gpu", "night"}
	due := now.Add(time.Hour).Truncate(time.Millisecond)
	later.E.State, later.E.RunAt = job.StateScheduled, &due
	require.NoError(t, s.CreateMany(ctx, []store.NewExecution{tagged, later}))
	for _, tag := range []string{"gpu", "night"} {
		page, err := s.List(ctx, store.Filter{Tag: tag}, store.Page{Limit: 10})
		require.NoError(t, err)
		require.Len(t, page.Items, 1, tag)
		require.Equal(t, "m6", page.Items[0].ID)
	}
	ids, err := s.DueExecutions(ctx, due, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"m7"}, ids)
	ids, err = s.DueExecutions(ctx, now, 10)
	require.NoError(t, err)
	require.Empty(t, ids)

	err = s.CreateMany(ctx, []store.NewExecution{item("m5", true), item("m5", true)})
	require.Equal(t, job.CodeConflict, job.ErrorCode(err))
	_, err = s.Get(ctx, "m5")
	require.ErrorIs(t, err, job.ErrNotFound)
}

// TestLargeInput: an input over the script-argument limit is SET beside
// the script and renamed into place by it: it reads back whole, never
// expires, leaves no upload key, and an id that is taken keeps its own
// input (the upload is dropped), alone or in a batch.
func TestLargeInput(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	rdb := s.Redis()
	big := func(c byte) json.RawMessage {
		return json.RawMessage(`{"blob":"` + strings.Repeat(string(c), 200<<10) + `"}`)
	}
	e := &job.Execution{ID: "big1", JobType: "t", Queue: "default", CreatedAt: time.Now()}
	require.NoError(t, s.CreateChosen(ctx, e, big('a'), nil, ""))
	in, err := s.Input(ctx, "big1")
	require.NoError(t, err)
	require.Equal(t, string(big('a')), string(in))
	ttl, err := rdb.PTTL(ctx, s.Prefix()+":x:big1:in").Result()
	require.NoError(t, err)
	require.Equal(t, time.Duration(-1), ttl, "the input does not expire")

	err = s.CreateChosen(ctx, &job.Execution{ID: "big1", JobType: "t", Queue: "default", CreatedAt: time.Now()}, big('b'), nil, "")
	require.Equal(t, job.CodeConflict, job.ErrorCode(err))
	in, err = s.Input(ctx, "big1")
	require.NoError(t, err)
	require.Equal(t, string(big('a')), string(in), "a taken id keeps its input")

	require.NoError(t, s.CreateMany(ctx, []store.NewExecution{
		{E: &job.Execution{ID: "big2", JobType: "t", Queue: "default", CreatedAt: time.Now()}, Input: big('c')},
		{E: &job.Execution{ID: "small", JobType: "t", Queue: "default", CreatedAt: time.Now()}, Input: json.RawMessage(`{}`)},
	}))
	in, err = s.Input(ctx, "big2")
	require.NoError(t, err)
	require.Equal(t, string(big('c')), string(in))
	err = s.CreateMany(ctx, []store.NewExecution{
		{E: &job.Execution{ID: "big3", JobType: "t", Queue: "default", CreatedAt: time.Now()}, Input: big('d'), Chosen: true},
		{E: &job.Execution{ID: "big1", JobType: "t", Queue: "default", CreatedAt: time.Now()}, Input: big('e'), Chosen: true},
	})
	require.Equal(t, job.CodeConflict, job.ErrorCode(err))

	uploads, err := rdb.Keys(ctx, s.Prefix()+":x:*:in:up:*").Result()
	require.NoError(t, err)
	require.Empty(t, uploads, "no upload key is left")
	in, err = s.Input(ctx, "big1")
	require.NoError(t, err)
	require.Equal(t, string(big('a')), string(in))
}

// TestPromoteOnce: a scheduled execution waits in the due set (not before
// its time), and of many concurrent promotes exactly one moves it to
// queued, with its task written once and its index entries moved.
func TestPromoteOnce(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	at := time.Now().Add(time.Minute)
	e := newExec("s1")
	e.State, e.RunAt = job.StateScheduled, &at
	require.NoError(t, s.CreateNew(ctx, e, json.RawMessage(`{}`), nil, ""))
	due, err := s.DueExecutions(ctx, time.Now(), 10)
	require.NoError(t, err)
	require.Empty(t, due, "not due yet")
	due, err = s.DueExecutions(ctx, at, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"s1"}, due)
	l, err := s.List(ctx, store.Filter{State: job.StateScheduled}, store.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.True(t, l.Items[0].RunAt.Equal(at.Truncate(time.Millisecond)))

	var moved atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.Promote(ctx, e, newTask("s1"))
			if err != nil {
				t.Error(err)
			}
			if ok {
				moved.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, moved.Load())
	require.EqualValues(t, 1, rdb.LLen(ctx, "asynq:{q}:pending").Val(), "one task")
	got, err := s.Get(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, got.State)
	counts, err := s.CountByState(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, counts[job.StateScheduled])
	require.EqualValues(t, 1, counts[job.StateQueued])
	due, err = s.DueExecutions(ctx, at, 10)
	require.NoError(t, err)
	require.Empty(t, due)
}

// TestAdvanceScheduleOnce: of two processes that handled the same tick,
// only the first moves the schedule on.
func TestAdvanceScheduleOnce(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Second)
	t1 := t0.Add(time.Second)
	require.NoError(t, s.PutSchedule(ctx, "sc", []byte(`{}`), &t0, t0, true, false))
	require.ErrorIs(t, s.PutSchedule(ctx, "sc", []byte(`{}`), &t0, t0, true, false), job.ErrConflict)
	ids, err := s.DueSchedules(ctx, t0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"sc"}, ids)
	adv := store.Advance{Handled: t0, Next: &t1, Fired: &t0, ExecutionID: "sc-1"}
	require.NoError(t, s.AdvanceSchedule(ctx, "sc", adv))
	require.ErrorIs(t, s.AdvanceSchedule(ctx, "sc", adv), store.ErrScheduleMoved)
	r, err := s.GetSchedule(ctx, "sc")
	require.NoError(t, err)
	require.True(t, r.NextRun.Equal(t1))
	require.True(t, r.LastRun.Equal(t0))
	require.Equal(t, "sc-1", r.LastExecutionID)
	ids, err = s.DueSchedules(ctx, t0, 10)
	require.NoError(t, err)
	require.Empty(t, ids)
	require.NoError(t, s.DeleteSchedule(ctx, "sc"))
	require.ErrorIs(t, s.DeleteSchedule(ctx, "sc"), job.ErrNotFound)
	ids, err = s.DueSchedules(ctx, t1, 10)
	require.NoError(t, err)
	require.Empty(t, ids)
}

// TestTagIndexesLeaveNothing: tag index entries are written with the
// record, moved with its tags and removed with it (execution delete,
// instance delete, unused-instance retention), so that once every tagged
// record is gone no tag key is left; the known-tags set forgets a tag
// nothing carries when it is listed.
func TestTagIndexesLeaveNothing(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: "{tagtest}"})
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	require.NoError(t, s.Create(ctx, &job.Execution{ID: "e1", JobType: "t", Queue: "default", CreatedAt: at,
		Tags: []string{"a", "b"}, RequireTags: []string{"gpu"}}, json.RawMessage(`{}`)))
	require.NoError(t, s.Create(ctx, &job.Execution{ID: "e2", JobType: "t", Queue: "default", CreatedAt: at.Add(time.Second),
		Tags: []string{"a"}}, json.RawMessage(`{}`)))
	for i, id := range []string{"i1", "i2"} {
		require.NoError(t, s.CreateInstance(ctx, &store.Instance{ID: id, Owner: "u" + id, Tags: []string{"a", "c"},
			CreatedAt: at.Add(time.Duration(i) * time.Second)}, []byte(`{}`)))
	}
	e, err := s.Get(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, e.Tags)
	require.Equal(t, []string{"gpu"}, e.RequireTags)
	started, err := s.Start(ctx, "e1", 1, "w", time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"gpu"}, started.Execution.RequireTags, "start hands the worker the routing")

	// Owner beside tag: the tag's set, the owner checked.
	l, err := s.ListInstances(ctx, "ui2", "a", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, "i2", l.Items[0].ID)
	_, err = s.ListInstances(ctx, "ui2", "a", store.Page{Limit: 10, Offset: 1})
	require.Equal(t, job.CodeBadRequest, job.ErrorCode(err))

	tags, err := s.SetTags(ctx, false, "e2", store.TagsAdd, []string{"d", "a"})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "d"}, tags)
	_, err = s.SetTags(ctx, false, "nope", store.TagsAdd, []string{"d"})
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	many := make([]string, job.MaxTags+1)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	_, err = s.SetTags(ctx, false, "e2", store.TagsSet, many)
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))

	counts, more, err := s.TagCounts(ctx, "", 10, nil)
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, []store.TagCount{{Name: "a", Executions: 2, Instances: 2}, {Name: "b", Executions: 1},
		{Name: "c", Instances: 2}, {Name: "d", Executions: 1}}, counts)
	counts, more, err = s.TagCounts(ctx, "a", 2, nil)
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, "b", counts[0].Name)
	require.Equal(t, "c", counts[1].Name)

	// Delete everything: no tag index key is left.
	_, err = s.Finish(ctx, "e1", 1, store.Outcome{State: job.StateSucceeded}, time.Now())
	require.NoError(t, err)
	_, err = s.Cancel(ctx, "e2", time.Now())
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "e1"))
	require.NoError(t, s.Delete(ctx, "e2"))
	require.NoError(t, s.DeleteInstance(ctx, "i1"))
	n, err := s.DeleteUnusedInstances(ctx, []string{"i2"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	keys, err := rdb.Keys(ctx, "{tagtest}:ix:*tag:*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
	counts, _, err = s.TagCounts(ctx, "", 10, []string{"c"})
	require.NoError(t, err)
	require.Equal(t, []store.TagCount{{Name: "c"}}, counts, "only a kept name (a job type's tag) is listed")
	names, err := rdb.ZRange(ctx, "{tagtest}:ix:tags", 0, -1).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, names, "the others were forgotten")
}
