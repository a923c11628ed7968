package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// seedListing stores n executions spread over states (reached through the
// state-change scripts, so that their index moves are what is tested),
// job types, owners, instances and labels, several sharing a creation
// millisecond. It returns their ids.
func seedListing(t *testing.T, s *store.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	ids := make([]string, n)
	for i := range ids {
		id := fmt.Sprintf("e%03d", i)
		ids[i] = id
		e := &job.Execution{ID: id, JobType: []string{"a", "b", "c"}[i%3], Queue: "default",
			CreatedAt: base.Add(time.Duration(i/4) * time.Millisecond)} // four per millisecond
		if i%5 != 0 {
			e.Owner = []string{"u1", "u2"}[i%2]
		}
		if i%7 == 0 {
			e.InstanceID = "i1"
		}
		e.Metadata = map[string]string{"even": fmt.Sprint(i%2 == 0)}
		if i%3 == 1 {
			e.Metadata["k"] = "x"
		}
		require.NoError(t, s.Create(ctx, e, json.RawMessage(`{}`)))
		now := time.Now()
		switch i % 6 {
		case 1: // running
			_, err := s.Start(ctx, id, 1, "w", now)
			require.NoError(t, err)
		case 2, 3: // succeeded or failed
			_, err := s.Start(ctx, id, 1, "w", now)
			require.NoError(t, err)
			st := job.StateSucceeded
			if i%6 == 3 {
				st = job.StateFailed
			}
			ok, err := s.Finish(ctx, id, 1, store.Outcome{State: st}, now)
			require.NoError(t, err)
			require.True(t, ok)
		case 4: // stopped while queued
			_, err := s.Cancel(ctx, id, now)
			require.NoError(t, err)
		case 5: // succeeded, then relaunched: queued again at attempt 2
			_, err := s.Start(ctx, id, 1, "w", now)
			require.NoError(t, err)
			_, err = s.Finish(ctx, id, 1, store.Outcome{State: job.StateSucceeded}, now)
			require.NoError(t, err)
			r, err := s.Requeue(ctx, id, store.RequeueRequest{Mode: store.Relaunch}, now)
			require.NoError(t, err)
			require.True(t, r.Requeued)
		}
		if i%11 == 0 { // labels changed after the submit
			_, err := s.UpdateLabels(ctx, id, store.Labels{SetMetadata: true, Metadata: map[string]string{"even": "moved"}})
			require.NoError(t, err)
		}
	}
	return ids
}

// TestListMatchesBruteForce: every filter and combination, paged with the
// token (and with the offset where it is served), returns exactly the
// matching executions newest first, compared with a filter over every
// record read one by one; totals are exact when given.
func TestListMatchesBruteForce(t *testing.T) {
	checkListing(t, newStore(t))
}

// TestListMatchesBruteForceEmbedded: the same on miniredis, the embedded
// default's Redis (its Lua and its score formatting).
func TestListMatchesBruteForceEmbedded(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	checkListing(t, store.New(rdb, store.Options{}))
}

func checkListing(t *testing.T, s *store.Store) {
	ctx := context.Background()
	ids := seedListing(t, s, 150)
	// Deleted executions leave every index.
	for _, id := range []string{"e002", "e003", "e008"} {
		require.NoError(t, s.Delete(ctx, id))
	}
	var all []*job.Execution
	for _, id := range ids {
		if e, err := s.Get(ctx, id); err == nil {
			all = append(all, e)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		return a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID > b.ID)
	})
	mid := all[len(all)/2].CreatedAt
	var filters []store.Filter
	for _, st := range []job.State{"", job.StateQueued, job.StateRunning, job.StateSucceeded, job.StateStopped} {
		for _, jt := range []string{"", "a", "c"} {
			for _, own := range []string{"", "u1"} {
				filters = append(filters, store.Filter{State: st, JobType: jt, Owner: own})
			}
		}
	}
	filters = append(filters,
		store.Filter{InstanceID: "i1"},
		store.Filter{InstanceID: "i1", State: job.StateQueued},
		store.Filter{Metadata: map[string]string{"even": "true"}},
		store.Filter{Metadata: map[string]string{"even": "moved"}},
		store.Filter{Metadata: map[string]string{"even": "true", "k": "x"}},
		store.Filter{Metadata: map[string]string{"k": "x"}, JobType: "b", Owner: "u2"},
		store.Filter{CreatedAfter: mid},
		store.Filter{CreatedBefore: mid, JobType: "b"},
		store.Filter{CreatedAfter: mid, State: job.StateFailed, Owner: "u2"},
	)
	for _, f := range filters {
		var want []string
		for _, e := range all {
			if (f.State == "" || e.State == f.State) && (f.JobType == "" || e.JobType == f.JobType) &&
				(f.Owner == "" || e.Owner == f.Owner) && (f.InstanceID == "" || e.InstanceID == f.InstanceID) &&
				(f.CreatedAfter.IsZero() || !e.CreatedAt.Before(f.CreatedAfter)) &&
				(f.CreatedBefore.IsZero() || !e.CreatedAt.After(f.CreatedBefore)) && labelsMatch(e.Metadata, f.Metadata) {
				want = append(want, e.ID)
			}
		}
		name := fmt.Sprintf("%+v", f)
		var got []string
		tok := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 200, name)
			l, err := s.List(ctx, f, store.Page{Limit: 7, Token: tok})
			require.NoError(t, err, name)
			require.LessOrEqual(t, len(l.Items), 7, name)
			if l.Total >= 0 {
				require.EqualValues(t, len(want), l.Total, name)
			}
			for _, e := range l.Items {
				got = append(got, e.ID)
			}
			if l.Next == "" {
				break
			}
			tok = l.Next
		}
		require.Equal(t, want, got, name)
		// The offset, where it is served, gives the same window (at
		// offsets that fall inside and between runs of equal times).
		for _, off := range []int{1, 3, 13, 42} {
			if l, err := s.List(ctx, f, store.Page{Limit: 5, Offset: off}); err == nil {
				exp := []string{}
				if len(want) > off {
					exp = want[off:min(len(want), off+5)]
				}
				gotOff := []string{}
				for _, e := range l.Items {
					gotOff = append(gotOff, e.ID)
				}
				require.Equal(t, exp, gotOff, "%s offset %d", name, off)
			} else {
				require.ErrorIs(t, err, job.ErrBadRequest, name)
			}
		}
	}
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// TestListCursorUnderChurn: paging with the token while executions are
// submitted and deleted meanwhile skips none of those that were there
// before and stayed, and repeats none.
func TestListCursorUnderChurn(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	var before []string
	for i := 0; i < 400; i++ {
		id := fmt.Sprintf("c%03d", i)
		create(t, s, id, "a", "", base.Add(time.Duration(i/3)*time.Millisecond), nil)
		before = append(before, id)
	}
	for round, f := range []store.Filter{{}, {JobType: "a"}, {State: job.StateQueued}} {
		deleted := map[string]bool{}
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		step := make(chan struct{}) // one churn step between pages
		go func() {                 // churn: new submits (newer) and deletes of old ones
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				create(t, s, fmt.Sprintf("n%d-%05d", round, i), "a", "", time.Now(), nil)
				victim := before[(i*37)%len(before)]
				// Only finished executions can be deleted: stop it first.
				if _, err := s.Cancel(ctx, victim, time.Now()); err == nil {
					if err := s.Delete(ctx, victim); err == nil {
						mu.Lock()
						deleted[victim] = true
						mu.Unlock()
					}
				}
				select {
				case step <- struct{}{}:
				case <-stop:
					return
				}
			}
		}()
		seen := map[string]bool{}
		tok := ""
		for {
			l, err := s.List(ctx, f, store.Page{Limit: 9, Token: tok})
			require.NoError(t, err)
			for _, e := range l.Items {
				require.False(t, seen[e.ID], "%s repeated", e.ID)
				seen[e.ID] = true
			}
			if l.Next == "" {
				break
			}
			tok = l.Next
			<-step
		}
		close(stop)
		<-done
		require.NotEmpty(t, deleted, "the churn deleted executions while paging")
		for _, id := range before {
			if !deleted[id] && !seen[id] {
				if e, err := s.Get(ctx, id); err == nil && (f.State == "" || e.State == f.State) {
					t.Fatalf("%+v: %s skipped", f, id)
				}
			}
		}
		// Start the next filter from the same 400: recreate the deleted.
		for id := range deleted {
			var i int
			_, _ = fmt.Sscanf(id, "c%03d", &i)
			create(t, s, id, "a", "", base.Add(time.Duration(i/3)*time.Millisecond), nil)
		}
	}
}

// TestListRefusesExpensive: a too-deep offset, an offset with filters no
// index serves together, a foreign token, a token with an offset and
// too many labels are refused as bad requests, not served slowly.
func TestListRefusesExpensive(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	create(t, s, "r1", "a", "u", time.Now(), map[string]string{"k": "v"})
	for name, p := range map[string]struct {
		f store.Filter
		p store.Page
	}{
		"deep offset":        {store.Filter{}, store.Page{Limit: 10, Offset: store.MaxOffset + 1}},
		"offset, three dims": {store.Filter{State: job.StateQueued, JobType: "a", Owner: "u"}, store.Page{Limit: 10, Offset: 1}},
		"offset, md + dim":   {store.Filter{JobType: "a", Metadata: map[string]string{"k": "v"}}, store.Page{Limit: 10, Offset: 1}},
		"foreign token":      {store.Filter{}, store.Page{Limit: 10, Token: "bm90IG91cnM"}},
		"token and offset":   {store.Filter{}, store.Page{Limit: 10, Offset: 1, Token: "MToxOmE"}},
	} {
		_, err := s.List(ctx, p.f, p.p)
		require.ErrorIs(t, err, job.ErrBadRequest, name)
	}
	md := map[string]string{}
	for i := 0; i <= store.MaxLabels; i++ {
		md[fmt.Sprint("k", i)] = "v"
	}
	err := s.Create(ctx, &job.Execution{ID: "r2", JobType: "a", CreatedAt: time.Now(), Metadata: md}, json.RawMessage(`{}`))
	require.ErrorIs(t, err, job.ErrInvalid)
}

// TestSmallInputLivesInTheRecord: an input up to 64 bytes is a field of
// the record, not a key of its own, and reads back the same through
// Input and Start; a larger one keeps its key.
func TestSmallInputLivesInTheRecord(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	small, large := `{"values":[1,2,3]}`, fmt.Sprintf(`{"pad":%q}`, make([]byte, 100))
	for id, in := range map[string]string{"s1": small, "l1": large} {
		require.NoError(t, s.Create(ctx, &job.Execution{ID: id, JobType: "a", CreatedAt: time.Now()}, json.RawMessage(in)))
		n, err := s.Redis().Exists(ctx, s.Prefix()+":x:"+id+":in").Result()
		require.NoError(t, err)
		require.EqualValues(t, map[bool]int64{true: 0, false: 1}[in == small], n, id)
		got, err := s.Input(ctx, id)
		require.NoError(t, err)
		require.Equal(t, in, string(got))
		st, err := s.Start(ctx, id, 1, "w", time.Now())
		require.NoError(t, err)
		require.Equal(t, in, string(st.Input))
	}
}

// TestReindexUpgradesOldData: records indexed as 0.1.0 did (one set of
// all executions, one per state, job type and owner) are listed by every
// filter after Reindex, and 0.1.0's sets are gone.
func TestReindexUpgradesOldData(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	rdb, p := s.Redis(), s.Prefix()
	at := time.UnixMilli(1_700_000_000_000)
	for i, st := range []job.State{job.StateQueued, job.StateSucceeded, job.StateFailed} {
		id := fmt.Sprint("old", i)
		require.NoError(t, rdb.HSet(ctx, p+":x:"+id, "job_type", "a", "kind", "async", "state", string(st), "attempt", "1",
			"queue", "default", "created_at", fmt.Sprint(at.UnixMilli()+int64(i)), "owner", "u1", "metadata", `{"k":"v"}`).Err())
		require.NoError(t, rdb.Set(ctx, p+":x:"+id+":in", `{}`, 0).Err())
		score := float64(at.UnixMilli() + int64(i))
		for _, k := range []string{":ix:all", ":ix:st:" + string(st), ":ix:jt:a", ":ix:own:u1"} {
			require.NoError(t, rdb.ZAdd(ctx, p+k, redis.Z{Score: score, Member: id}).Err())
		}
	}
	n, err := s.Reindex(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for _, f := range []store.Filter{{}, {State: job.StateSucceeded}, {JobType: "a", Owner: "u1"}, {Metadata: map[string]string{"k": "v"}}} {
		l, err := s.List(ctx, f, store.Page{Limit: 10})
		require.NoError(t, err)
		want := 3
		if f.State != "" {
			want = 1
		}
		require.Len(t, l.Items, want, "%+v", f)
	}
	left, err := rdb.Keys(ctx, p+":ix:all").Result()
	require.NoError(t, err)
	require.Empty(t, left)
	left, err = rdb.Keys(ctx, p+":ix:own:*").Result()
	require.NoError(t, err)
	require.Empty(t, left)
	n, err = s.Reindex(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to do")
}

// TestListScanBudget: a filter no index serves examines at most
// store.ScanBudget candidates per request; a page cut short by it comes
// back with a token that continues the scan, and the match beyond it is
// found on a later page, once.
func TestListScanBudget(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	create(t, s, "match", "a", "u", base, map[string]string{"k": "v"}) // the oldest
	// Every set that serves part of the filter holds more than the
	// budget: job type a (k=w), and label k=v (job type b).
	for i := 0; i < store.ScanBudget+100; i++ {
		at := base.Add(time.Duration(i+1) * time.Millisecond)
		create(t, s, fmt.Sprintf("m%05d", i), "a", "u", at, map[string]string{"k": "w"})
		create(t, s, fmt.Sprintf("n%05d", i), "b", "u", at, map[string]string{"k": "v"})
	}
	f := store.Filter{JobType: "a", Metadata: map[string]string{"k": "v"}}
	l, err := s.List(ctx, f, store.Page{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, l.Items, "the budget ran out before the match")
	require.NotEmpty(t, l.Next, "a short page says where to go on")
	require.EqualValues(t, -1, l.Total)
	var got []string
	for tok := l.Next; tok != ""; {
		l, err := s.List(ctx, f, store.Page{Limit: 10, Token: tok})
		require.NoError(t, err)
		for _, e := range l.Items {
			got = append(got, e.ID)
		}
		tok = l.Next
	}
	require.Equal(t, []string{"match"}, got)
}
