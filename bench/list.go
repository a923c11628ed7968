package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// runListMode (-mode list) stores -n executions on a private redis-server
// (written through the store's create script, in their final state, over
// 30 days of creation times: 4 job types, 1,000 owners, an instance for 1
// in 100, a "team" label for 1 in 3), then times Service.ListPage with
// limit 50 for the default listing, each documented filter and
// combination, a deep page by token and by the deepest offset served.
// Each row interleaves its calls with the raw anchor, ZREVRANGE on a
// sorted set of every id plus 50 HGETALL pipelined (at the same depth for
// the deep rows), so both see the same machine; it prints p50 and p99 of
// each and the ratio of the p99s.
func runListMode(o options, srv *redistest.Server) (int, error) {
	ctx := context.Background()
	rdb := redis.NewClient(srv.Options(0))
	defer rdb.Close()
	n := o.n
	fmt.Printf("listing at %d stored executions, private redis-server %s, limit 50\n", n, srv.Version)
	st := store.New(rdb, store.Options{})
	seeded, err := seedExecutions(ctx, st, rdb, n)
	if err != nil {
		return 1, err
	}
	svc, err := solvekit.New(ctx, solvekit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 1, err
	}
	defer svc.Close()
	info, _ := rdb.Info(ctx, "memory").Result()
	fmt.Printf("seeded in %s; redis used_memory %s\n\n", seeded.took.Round(time.Second), infoLine(info, "used_memory_human"))

	mid := seeded.base.Add(15 * 24 * time.Hour)
	deep := n / 2
	deepAt := seeded.sorted[deep-1]
	rows := []struct {
		name  string
		o     solvekit.ListOptions
		depth int
	}{
		{"default (no filter)", solvekit.ListOptions{}, 0},
		{"status=succeeded", solvekit.ListOptions{State: job.StateSucceeded}, 0},
		{"status=queued", solvekit.ListOptions{State: job.StateQueued}, 0},
		{"job_type", solvekit.ListOptions{JobType: "solve-b"}, 0},
		{"owner", solvekit.ListOptions{Owner: "owner-7"}, 0},
		{"instance_id", solvekit.ListOptions{InstanceID: "inst-3"}, 0},
		{"metadata.team", solvekit.ListOptions{Metadata: map[string]string{"team": "t3"}}, 0},
		{"created range (1 day)", solvekit.ListOptions{CreatedAfter: mid, CreatedBefore: mid.Add(24 * time.Hour)}, 0},
		{"status × job_type", solvekit.ListOptions{State: job.StateFailed, JobType: "solve-c"}, 0},
		{"owner × status", solvekit.ListOptions{Owner: "owner-7", State: job.StateSucceeded}, 0},
		{"job_type × owner", solvekit.ListOptions{JobType: "solve-a", Owner: "owner-7"}, 0},
		{"status × job_type × created", solvekit.ListOptions{State: job.StateSucceeded, JobType: "solve-d", CreatedBefore: mid}, 0},
		{"status × job_type × owner (scan)", solvekit.ListOptions{State: job.StateSucceeded, JobType: "solve-a", Owner: "owner-7"}, 0},
		{"metadata × job_type (scan)", solvekit.ListOptions{JobType: "solve-a", Metadata: map[string]string{"team": "t3"}}, 0},
		{fmt.Sprintf("page %d by page_token", deep), solvekit.ListOptions{PageToken: store.TokenAfter(deepAt.at, deepAt.id)}, deep},
		{fmt.Sprintf("offset=%d (deepest served)", solvekit.MaxOffset), solvekit.ListOptions{Offset: solvekit.MaxOffset}, solvekit.MaxOffset},
		{fmt.Sprintf("status × job_type, offset=%d", solvekit.MaxOffset), solvekit.ListOptions{State: job.StateFailed, JobType: "solve-c", Offset: solvekit.MaxOffset}, solvekit.MaxOffset},
	}
	const reps = 300
	fmt.Printf("%-36s %9s %9s %9s %9s %7s %6s %s\n", "query (limit 50)", "anchor50", "anchor99", "sk p50", "sk p99", "p99 x", "items", "total")
	worst := 0
	for _, r := range rows {
		r.o.Limit = 50
		var anchor, sk []time.Duration
		var items int
		var total int64
		for i := 0; i < reps; i++ {
			t0 := time.Now()
			if err := rawAnchor(ctx, rdb, r.depth); err != nil {
				return 1, err
			}
			t1 := time.Now()
			p, err := svc.ListPage(ctx, r.o)
			t2 := time.Now()
			if err != nil {
				return 1, fmt.Errorf("%s: %w", r.name, err)
			}
			anchor, sk = append(anchor, t1.Sub(t0)), append(sk, t2.Sub(t1))
			items, total = len(p.Executions), p.Total
		}
		a50, a99, s50, s99 := pct(anchor, 50), pct(anchor, 99), pct(sk, 50), pct(sk, 99)
		ok := s99 <= 5*time.Millisecond || s99 <= 2*a99
		mark := ""
		if !ok || s50 > 5*time.Millisecond {
			mark, worst = "  MISSED", 1
		}
		fmt.Printf("%-36s %9s %9s %9s %9s %7.2f %6d %d%s\n", r.name, ms3(a50), ms3(a99), ms3(s50), ms3(s99),
			float64(s99)/float64(a99), items, total, mark)
	}
	fmt.Printf("\ngoals: every p99 ≤ 5 ms or ≤ 2× the anchor's p99, every p50 ≤ 5 ms (total -1: not counted, a filter served by a bounded scan)\n")
	if o.check {
		return worst, nil
	}
	return 0, nil
}

func ms3(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func infoLine(info, key string) string {
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return v
		}
	}
	return "?"
}

// anchorKey is the raw sorted set of every id, newest first, that the
// anchor reads.
const anchorKey = "bench:anchor:all"

// rawAnchor is what a hand-written listing costs: ZREVRANGE of 50 ids at
// depth (by rank) and their 50 records, pipelined.
func rawAnchor(ctx context.Context, rdb *redis.Client, depth int) error {
	ids, err := rdb.ZRevRange(ctx, anchorKey, int64(depth), int64(depth+49)).Result()
	if err != nil {
		return err
	}
	pipe := rdb.Pipeline()
	for _, id := range ids {
		pipe.HGetAll(ctx, store.DefaultPrefix+":x:"+id)
	}
	_, err = pipe.Exec(ctx)
	return err
}

type seededExec struct {
	at time.Time
	id string
}

type seedResult struct {
	base   time.Time
	took   time.Duration
	sorted []seededExec // newest first
}

// seedExecutions writes n executions through the store's create script
// (each in its final state), and the anchor's sorted set.
func seedExecutions(ctx context.Context, st *store.Store, rdb *redis.Client, n int) (*seedResult, error) {
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Millisecond)
	span := int64(30 * 24 * time.Hour / time.Millisecond)
	states := []job.State{job.StateSucceeded, job.StateSucceeded, job.StateSucceeded, job.StateSucceeded, job.StateSucceeded,
		job.StateSucceeded, job.StateSucceeded, job.StateFailed, job.StateStopped, job.StateTimedOut, job.StateQueued, job.StateRunning}
	all := make([]seededExec, n)
	begin := time.Now()
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var batch []redis.Z
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				err := rdb.ZAdd(ctx, anchorKey, batch...).Err()
				batch = batch[:0]
				return err
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					if err := flush(); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				at := base.Add(time.Duration(rng.Int64N(span)) * time.Millisecond)
				u, _ := uuid.NewV7()
				e := &job.Execution{ID: u.String(), JobType: fmt.Sprintf("solve-%c", 'a'+rune(i%4)), Kind: job.KindAsync,
					State: states[rng.IntN(len(states))], Attempt: 1, Queue: "default", CreatedAt: at,
					Owner: fmt.Sprintf("owner-%d", rng.IntN(1000))}
				if i%100 == 0 {
					e.InstanceID = fmt.Sprintf("inst-%d", rng.IntN(1000))
				}
				if i%3 == 0 {
					e.Metadata = map[string]string{"team": fmt.Sprintf("t%d", rng.IntN(10))}
				}
				if err := st.Create(ctx, e, sumInstance); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				all[i] = seededExec{at, e.ID}
				batch = append(batch, redis.Z{Score: float64(at.UnixMilli()), Member: e.ID})
				if len(batch) == 1000 {
					if err := flush(); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		return a.at.After(b.at) || (a.at.Equal(b.at) && a.id > b.id)
	})
	return &seedResult{base: base, took: time.Since(begin), sorted: all}, nil
}
