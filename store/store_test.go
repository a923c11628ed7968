package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
)

func newStore(t *testing.T) *store.Store {
	return store.New(redistest.Client(t), store.Options{})
}

func create(t *testing.T, s *store.Store, id, typ, owner string, at time.Time, md map[string]string) {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), &job.Execution{ID: id, JobType: typ, Owner: owner,
		Queue: "default", CreatedAt: at, Metadata: md}, json.RawMessage(`{}`)))
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

func TestListIndexes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 30; i++ {
		typ, owner := "a", "u1"
		if i%3 == 0 {
			typ = "b"
		}
		if i%2 == 0 {
			owner = "u2"
		}
		create(t, s, fmt.Sprintf("e%02d", i), typ, owner, base.Add(time.Duration(i)*time.Minute), map[string]string{"even": fmt.Sprint(i%2 == 0)})
	}
	page, total, err := s.List(ctx, store.Filter{}, store.Page{Limit: 5, Offset: 2})
	require.NoError(t, err)
	require.EqualValues(t, 30, total)
	require.Equal(t, "e27", page[0].ID, "newest first")
	require.Len(t, page, 5)

	_, total, err = s.List(ctx, store.Filter{JobType: "b"}, store.Page{Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, 10, total)
	page, total, err = s.List(ctx, store.Filter{JobType: "b", Owner: "u2"}, store.Page{Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, 5, total) // i%6==0
	for _, e := range page {
		require.Equal(t, "b", e.JobType)
		require.Equal(t, "u2", e.Owner)
	}
	_, total, err = s.List(ctx, store.Filter{State: job.StateQueued, CreatedAfter: base.Add(20 * time.Minute)}, store.Page{Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, 10, total)
	page, total, err = s.List(ctx, store.Filter{Metadata: map[string]string{"even": "true"}, Owner: "u2"}, store.Page{Limit: 3, Offset: 1})
	require.NoError(t, err)
	require.EqualValues(t, 15, total)
	require.Len(t, page, 3)
	require.Equal(t, "e26", page[0].ID)
	// The temporary intersection keys are gone.
	keys, err := s.Redis().Keys(ctx, "*tmp*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
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
	list, total, err := s.ListInstances(ctx, "u", store.Page{Limit: 2})
	require.NoError(t, err)
	require.EqualValues(t, 3, total)
	require.Equal(t, "i2", list[0].ID)
	require.EqualValues(t, 7, list[0].Size)
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
		Timeout: 1500 * time.Millisecond, MaxRetries: 2, CreatedAt: at}
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

	// What Start wrote is what Get reads.
	rec, err := s.Get(ctx, "s1")
	require.NoError(t, err)
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
	s := newStore(t)
	rdb := s.Redis()
	ctx := context.Background()
	now := time.Now()
	create(t, s, "c1", "t", "", now, nil)
	_, err := s.Start(ctx, "c1", 1, "w", now)
	require.NoError(t, err)
	task := func() *store.TaskDone {
		return &store.TaskDone{ID: "c1:1", ActiveKey: "asynq:{q}:active", LeaseKey: "asynq:{q}:lease",
			Key: "asynq:{q}:t:c1:1", ProcessedKey: "asynq:{q}:processed:2026-01-02",
			ProcessedTotalKey: "asynq:{q}:processed", ExpireAt: now.Add(time.Hour).Unix()}
	}
	require.NoError(t, rdb.LPush(ctx, "asynq:{q}:active", "other", "c1:1").Err())
	require.NoError(t, rdb.ZAdd(ctx, "asynq:{q}:lease", redis.Z{Score: 1, Member: "c1:1"}).Err())
	require.NoError(t, rdb.HSet(ctx, "asynq:{q}:t:c1:1", "msg", "m", "state", "active").Err())
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
