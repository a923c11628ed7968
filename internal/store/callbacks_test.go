package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// withCallback creates execution id with a result URL and the given
// callback format and authorization, and starts its attempt 1 at now.
func withCallback(t *testing.T, s *store.Store, id string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.CreateNew(ctx, &job.Execution{ID: id, JobType: "t", Queue: "default", CreatedAt: now,
		ResultURL: "https://example.com/hook"}, json.RawMessage(`{}`), nil, "", store.CallbackFields("ckan", "secret-key")...))
	_, err := s.Start(ctx, id, 1, "w", now)
	require.NoError(t, err)
}

// due reads the due set's score of id (ms), or -1 when not there.
func due(t *testing.T, s *store.Store, id string) int64 {
	sc, err := s.Redis().ZScore(context.Background(), s.Prefix()+":cb:due", id).Result()
	if err != nil {
		return -1
	}
	return int64(sc)
}

// Every script that ends an execution schedules its callback, in the same
// step: finish, cancel of a queued one, and the sweeper's end of a lost one.
func TestCallbackScheduledByEveryEnd(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	now := time.UnixMilli(1_800_000_000_000).UTC()

	withCallback(t, s, "fin", now)
	ok, err := s.Finish(ctx, "fin", 1, store.Outcome{State: job.StateSucceeded, SolverStatus: job.StatusOptimal}, now.Add(time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now.Add(time.Second).UnixMilli(), due(t, s, "fin"))
	e, err := s.Get(ctx, "fin")
	require.NoError(t, err)
	require.Equal(t, "https://example.com/hook", e.ResultURL)
	require.Equal(t, job.CallbackPending, e.CallbackState)

	require.NoError(t, s.CreateNew(ctx, &job.Execution{ID: "can", JobType: "t", Queue: "default", CreatedAt: now,
		ResultURL: "https://example.com/hook"}, json.RawMessage(`{}`), nil, ""))
	res, err := s.Cancel(ctx, "can", now.Add(2*time.Second))
	require.NoError(t, err)
	require.Equal(t, store.CancelStopped, res)
	require.Equal(t, now.Add(2*time.Second).UnixMilli(), due(t, s, "can"))

	withCallback(t, s, "lost", now)
	rq, err := s.Requeue(ctx, "lost", store.RequeueRequest{Mode: store.Lost, HeartbeatBefore: now.Add(time.Hour), MaxLost: 0,
		Error: &job.ErrorInfo{Message: "lost"}}, now.Add(3*time.Second))
	require.NoError(t, err)
	require.True(t, rq.Ended)
	require.Equal(t, now.Add(3*time.Second).UnixMilli(), due(t, s, "lost"))

	// Without a result URL nothing is scheduled.
	startAttempt(t, s, "plain", now)
	_, err = s.Finish(ctx, "plain", 1, store.Outcome{State: job.StateFailed}, now)
	require.NoError(t, err)
	require.Equal(t, int64(-1), due(t, s, "plain"))
}

// A claim hides an entry until its lease ends; a recorded attempt
// reschedules or ends the delivery; the credential is dropped at the end;
// a relaunch clears the summary and a claimed entry of a relaunched
// execution is dropped.
func TestCallbackClaimRecordDrop(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	now := time.UnixMilli(1_800_000_000_000).UTC()
	withCallback(t, s, "a", now)
	_, err := s.Finish(ctx, "a", 1, store.Outcome{State: job.StateSucceeded}, now)
	require.NoError(t, err)

	ids, err := s.ClaimCallbacks(ctx, now.Add(-time.Second), now.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, ids, "not due yet")
	ids, err = s.ClaimCallbacks(ctx, now, now.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids)
	ids, err = s.ClaimCallbacks(ctx, now.Add(30*time.Second), now.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, ids, "claimed until the lease ends")

	tg, err := s.CallbackTarget(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "ckan", tg.Format)
	require.Equal(t, "secret-key", tg.Auth)
	require.Equal(t, now, tg.First)
	require.Zero(t, tg.N)
	e := tg.Execution
	e.Metadata = nil
	b, _ := json.Marshal(e)
	require.NotContains(t, string(b), "secret-key", "the credential is not part of the execution")

	at := job.CallbackAttempt{Delivery: "a:1", N: 1, Time: now, StatusCode: 500, Error: "receiver answered 500"}
	require.NoError(t, s.RecordCallback(ctx, "a", 1, at, job.CallbackFailed, now.Add(5*time.Second)))
	require.Equal(t, now.Add(5*time.Second).UnixMilli(), due(t, s, "a"))
	at.N, at.StatusCode, at.Error = 2, 200, ""
	require.NoError(t, s.RecordCallback(ctx, "a", 1, at, job.CallbackDelivered, time.Time{}))
	require.Equal(t, int64(-1), due(t, s, "a"))
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, job.CallbackDelivered, got.CallbackState)
	require.Equal(t, 2, got.CallbackAttempts)
	tg, err = s.CallbackTarget(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, tg.Auth, "the credential is dropped once the delivery ended")
	atts, err := s.Callbacks(ctx, "a")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	require.Equal(t, 500, atts[0].StatusCode)
	require.Equal(t, 200, atts[1].StatusCode)

	// Relaunched: the summary is cleared; an entry claimed for the old end
	// is dropped while the execution runs again, and an attempt recorded
	// for the old end does not touch the new delivery.
	_, err = s.Requeue(ctx, "a", store.RequeueRequest{Mode: store.Relaunch}, now)
	require.NoError(t, err)
	got, err = s.Get(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, got.CallbackState)
	require.Zero(t, got.CallbackAttempts)
	require.NoError(t, s.Redis().ZAdd(ctx, s.Prefix()+":cb:due", redisZ(now, "a")).Err())
	require.NoError(t, s.DropCallback(ctx, "a"))
	require.Equal(t, int64(-1), due(t, s, "a"))
	require.NoError(t, s.RecordCallback(ctx, "a", 1, at, job.CallbackDelivered, time.Time{}))
	got, err = s.Get(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, got.CallbackState)

	// Deleted: the log and the entry go with the record.
	_, err = s.Start(ctx, "a", 2, "w", now)
	require.NoError(t, err)
	_, err = s.Finish(ctx, "a", 2, store.Outcome{State: job.StateSucceeded}, now)
	require.NoError(t, err)
	require.NotEqual(t, int64(-1), due(t, s, "a"))
	require.NoError(t, s.Delete(ctx, "a"))
	require.Equal(t, int64(-1), due(t, s, "a"))
	n, err := s.Redis().Exists(ctx, s.Prefix()+":x:a:cb").Result()
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = s.Callbacks(ctx, "a")
	require.ErrorIs(t, err, job.ErrNotFound)
}

func redisZ(at time.Time, id string) redis.Z {
	return redis.Z{Score: float64(at.UnixMilli()), Member: id}
}
