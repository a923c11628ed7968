package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// TestBatchedCallsUnderConcurrency: concurrent creates, starts and finishes
// share pipelines, with one or several leaders at a time; each call still
// gets its own result, conflicts and stale attempts included, and a flushed
// script cache (NOSCRIPT) is recovered from.
func TestBatchedCallsUnderConcurrency(t *testing.T) {
	for _, pipes := range []int{1, 4} {
		t.Run(fmt.Sprintf("pipelines=%d", pipes), func(t *testing.T) { testBatchedCalls(t, pipes) })
	}
}

func testBatchedCalls(t *testing.T, pipes int) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{Pipelines: pipes})
	ctx := context.Background()
	now := time.Now()
	const n = 200
	run := func(f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- f(i) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	id := func(i int) string { return fmt.Sprintf("b%03d", i) }
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	run(func(i int) error {
		return s.Create(ctx, &job.Execution{ID: id(i), JobType: "t", Queue: "default", CreatedAt: now},
			json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))
	})
	// a second create of every id is a conflict, reported to each caller
	run(func(i int) error {
		err := s.Create(ctx, &job.Execution{ID: id(i), JobType: "t", Queue: "default", CreatedAt: now}, json.RawMessage(`{}`))
		if !strings.Contains(fmt.Sprint(err), "exists") {
			return fmt.Errorf("want a conflict, got %v", err)
		}
		return nil
	})
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	run(func(i int) error {
		st, err := s.Start(ctx, id(i), 1, "w", now)
		if err != nil {
			return err
		}
		if want := fmt.Sprintf(`{"i":%d}`, i); string(st.Input) != want || st.Execution.ID != id(i) {
			return fmt.Errorf("start %s got %s %s", id(i), st.Execution.ID, st.Input)
		}
		// the wrong attempt is not startable
		if _, err := s.Start(ctx, id(i), 2, "w", now); err == nil {
			return fmt.Errorf("attempt 2 of %s started", id(i))
		}
		return nil
	})
	run(func(i int) error {
		ok, err := s.Finish(ctx, id(i), 1, store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal,
			Solution: json.RawMessage(fmt.Sprintf(`{"s":%d}`, i))}, now)
		if err != nil || !ok {
			return fmt.Errorf("finish %s: %v %v", id(i), ok, err)
		}
		return nil
	})
	counts, err := s.CountByState(ctx)
	require.NoError(t, err)
	require.EqualValues(t, n, counts[job.StateSucceeded])
	sol, err := s.Solution(ctx, id(7))
	require.NoError(t, err)
	require.JSONEq(t, `{"s":7}`, string(sol))
}

// TestCreateWithTask writes the record and its queue task in one step; a
// second create with the same id writes neither.
func TestCreateWithTask(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	task := newTask("t1")
	e := &job.Execution{ID: "t1", JobType: "t", Queue: "q", CreatedAt: time.Now()}
	require.NoError(t, s.CreateWithTask(ctx, e, json.RawMessage(`{}`), task))
	m, err := rdb.HGetAll(ctx, task.Key).Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"msg": "msg", "state": "pending", "pending_since": "1"}, m)
	require.Equal(t, []string{"t1:1"}, rdb.LRange(ctx, task.PendingKey, 0, -1).Val())
	require.True(t, rdb.SIsMember(ctx, task.QueuesKey, "q").Val())

	require.ErrorIs(t, s.CreateWithTask(ctx, e, json.RawMessage(`{}`), task), job.ErrConflict)
	require.EqualValues(t, 1, rdb.LLen(ctx, task.PendingKey).Val(), "nothing enqueued twice")
}

// TestCreateNewSentTwice: a second CreateNew of the same call (a re-send
// after a lost reply) reports success and writes nothing more: the record
// keeps its first content and the task is queued once.
func TestCreateNewSentTwice(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	task := newTask("n1")
	e := &job.Execution{ID: "n1", JobType: "t", Name: "first", Queue: "q", CreatedAt: time.Now()}
	require.NoError(t, s.CreateNew(ctx, e, json.RawMessage(`{"a":1}`), task, ""))
	again := *e
	again.Name = "second"
	require.NoError(t, s.CreateNew(ctx, &again, json.RawMessage(`{"a":2}`), task, ""))
	require.EqualValues(t, 1, rdb.LLen(ctx, task.PendingKey).Val(), "nothing enqueued twice")
	got, err := s.Get(ctx, "n1")
	require.NoError(t, err)
	require.Equal(t, "first", got.Name)
	in, err := s.Input(ctx, "n1")
	require.NoError(t, err)
	require.JSONEq(t, `{"a":1}`, string(in))
	// CreateWithTask, for ids that callers choose, still reports the conflict.
	require.ErrorIs(t, s.CreateWithTask(ctx, &again, json.RawMessage(`{}`), task), job.ErrConflict)
}

// TestBatchedCallWithEndedContext: a call whose context has ended is either
// withdrawn before it was sent (context error, nothing written) or, when it
// was already on the wire, answered with its real result. Never an error
// for a write that happened.
func TestBatchedCallWithEndedContext(t *testing.T) {
	s := store.New(redistest.Client(t), store.Options{Pipelines: 1})
	withdrawn, sent := 0, 0
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		id := fmt.Sprintf("c%03d", i)
		err := s.Create(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`))
		_, getErr := s.Get(context.Background(), id)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, getErr, job.ErrNotFound, "a withdrawn call wrote its record")
			withdrawn++
		} else {
			require.NoError(t, getErr)
			sent++
		}
	}
	t.Logf("withdrawn %d, sent %d", withdrawn, sent)
	require.Positive(t, withdrawn)
}

// TestBatcherSurvivesABrokenConnection: the flusher sends on a connection
// of its own; when Redis drops it, the calls in flight are sent again
// through the pool and later calls get a new connection.
func TestBatcherSurvivesABrokenConnection(t *testing.T) {
	if redistest.Current(t).Kind == "miniredis" {
		t.Skip("miniredis has no CLIENT KILL")
	}
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{Pipelines: 1})
	ctx := context.Background()
	create := func(id string) error {
		return s.Create(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: time.Now()}, json.RawMessage(`{}`))
	}
	require.NoError(t, create("k1"))
	// Drop every connection of this test's database but the admin's.
	db := rdb.Options().DB
	admin := rdb.Conn()
	defer admin.Close()
	me, err := admin.ClientID(ctx).Result()
	require.NoError(t, err)
	list, err := admin.ClientList(ctx).Result()
	require.NoError(t, err)
	killed := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if f["db"] == fmt.Sprint(db) && f["id"] != fmt.Sprint(me) {
			require.NoError(t, admin.ClientKillByFilter(ctx, "ID", f["id"]).Err())
			killed++
		}
	}
	require.Positive(t, killed, "the flusher's connection was expected among the clients")
	require.NoError(t, create("k2"), "sent again through the pool")
	require.NoError(t, create("k3"), "on a new connection")
	for _, id := range []string{"k1", "k2", "k3"} {
		e, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, job.StateQueued, e.State)
	}
}
