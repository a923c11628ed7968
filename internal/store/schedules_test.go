package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

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
