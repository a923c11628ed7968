package main

// The modes that store queued executions on a private redis-server
// (nobody works them): what one costs in memory (-mode memory) and how
// fast SubmitMany stores them against Submit (-mode batch).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
)

// runMemoryMode (-mode memory) measures the Redis memory one queued
// execution costs: -n executions submitted through solvekit (nobody works
// them, so they stay queued) on a fresh database of a private
// redis-server, beside -n tasks enqueued through asynq's own client with
// the same instance as payload, on another fresh database. Bytes per item
// are INFO used_memory after minus before, divided by n. The breakdown
// sums MEMORY USAGE of every key of a sample execution by kind, and
// apportions the index sorted sets' growth among the executions.
func runMemoryMode(o options, srv *redistest.Server) (int, error) {
	n := o.n
	fmt.Printf("memory per queued execution: %d items per side, private redis-server %s\n", n, srv.Version)

	// asynq: a pending task with the instance as payload.
	ctx := context.Background()
	ac := redis.NewClient(srv.Options(1))
	defer ac.Close()
	base, err := usedMemory(ctx, ac)
	if err != nil {
		return 1, err
	}
	client := asynq.NewClientFromRedisClient(ac)
	for i := 0; i < n; i++ {
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("sum", sumInstance), asynq.Queue("default")); err != nil {
			return 1, err
		}
	}
	after, err := usedMemory(ctx, ac)
	if err != nil {
		return 1, err
	}
	asynqPer := float64(after-base) / float64(n)
	aKeys, err := keyBreakdown(ctx, ac, "asynq:*", n)
	if err != nil {
		return 1, err
	}

	var plainPer float64
	for i, variant := range []struct {
		name string
		req  solvekit.SubmitRequest
	}{
		{"plain", solvekit.SubmitRequest{JobType: "sum", Instance: sumInstance}},
		{"owner and job key (as every REST submit)", solvekit.SubmitRequest{JobType: "sum", Instance: sumInstance, Owner: "alice", JobKey: "d2f0c1a9e8b7"}},
		{"owner+2 labels", solvekit.SubmitRequest{JobType: "sum", Instance: sumInstance, Owner: "alice",
			Metadata: map[string]string{"team": "ops", "env": "prod"}}},
	} {
		sc := redis.NewClient(srv.Options(2 + i))
		// One submit first, so that the sets and lists every execution
		// shares exist before the measure.
		svc, err := storedSumService(ctx, sc, variant.req)
		if err != nil {
			return 1, err
		}
		base, err := usedMemory(ctx, sc)
		if err != nil {
			return 1, err
		}
		for i := 0; i < n; i++ {
			if _, err := svc.Submit(ctx, variant.req); err != nil {
				return 1, err
			}
		}
		after, err := usedMemory(ctx, sc)
		if err != nil {
			return 1, err
		}
		per := float64(after-base) / float64(n)
		if plainPer == 0 {
			plainPer = per
		}
		fmt.Printf("\nsolvekit (%s): %.0f B per queued execution; asynq pending task %.0f B; ratio %.2f (goal ≤ 2.00)\n",
			variant.name, per, asynqPer, per/asynqPer)
		kinds, err := keyBreakdown(ctx, sc, "*", n+1)
		if err != nil {
			return 1, err
		}
		printBreakdownBytes(kinds)
		_ = svc.Close()
		_ = sc.Close()
	}
	fmt.Printf("\nasynq pending task: %.0f B per task\n", asynqPer)
	printBreakdownBytes(aKeys)
	fmt.Printf("\ncapacity: about %.0f queued executions per GB of used_memory (plain), asynq %.0f tasks per GB\n",
		1e9/plainPer, 1e9/asynqPer)
	return 0, nil
}

// privateRedisServer starts the private redis-server a -mode measures on
// (it needs a real one: miniredis has no MEMORY USAGE nor Lua timings
// that mean anything).
func privateRedisServer(o options, mode string) (*redistest.Server, error) {
	if o.redisURL != "" {
		return nil, fmt.Errorf("-mode %s starts its own private redis-server; -redis does not apply", mode)
	}
	srv, err := redistest.Start()
	if err != nil {
		return nil, err
	}
	if srv.Kind != "redis-server" {
		srv.Stop()
		return nil, fmt.Errorf("-mode %s needs redis-server on PATH", mode)
	}
	return srv, nil
}

// onPrivateRedis runs a -mode on a private redis-server it starts and
// stops.
func onPrivateRedis(mode string, run func(options, *redistest.Server) (int, error)) func(options) (int, error) {
	return func(o options) (int, error) {
		srv, err := privateRedisServer(o, mode)
		if err != nil {
			return 1, err
		}
		defer srv.Stop()
		return run(o, srv)
	}
}

func usedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO")
}

// kindBytes is the MEMORY USAGE of the keys of one kind, per item.
type kindBytes struct {
	kind  string
	keys  int
	bytes int64
	per   float64
}

// keyBreakdown scans the keys matching pattern and sums MEMORY USAGE by
// kind (the key name with ids and queue names folded), per item of n.
func keyBreakdown(ctx context.Context, c *redis.Client, pattern string, n int) ([]kindBytes, error) {
	by := map[string]*kindBytes{}
	it := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	flush := func() error {
		pipe := c.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, k := range batch {
			kind := keyKind(k)
			b := by[kind]
			if b == nil {
				b = &kindBytes{kind: kind}
				by[kind] = b
			}
			b.keys++
			b.bytes += cmds[i].Val()
		}
		batch = batch[:0]
		return nil
	}
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	out := make([]kindBytes, 0, len(by))
	for _, b := range by {
		b.per = float64(b.bytes) / float64(n)
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].bytes > out[j].bytes })
	return out, nil
}

// keyKind folds the ids out of a key name: a UUID (36 characters with
// dashes) or an asynq task id becomes <id>.
func keyKind(k string) string {
	parts := strings.Split(k, ":")
	for i, p := range parts {
		if len(p) >= 20 && strings.Count(p, "-") >= 4 {
			parts[i] = "<id>"
		}
	}
	return strings.Join(parts, ":")
}

func printBreakdownBytes(kinds []kindBytes) {
	fmt.Printf("  %-40s %9s %12s %10s\n", "key kind (MEMORY USAGE)", "keys", "bytes", "B/item")
	var total float64
	for _, k := range kinds {
		fmt.Printf("  %-40s %9d %12d %10.1f\n", k.kind, k.keys, k.bytes, k.per)
		total += k.per
	}
	fmt.Printf("  %-40s %9s %12s %10.1f\n", "sum", "", "", total)
}

// runBatchMode (-mode batch) measures Service.SubmitMany against Submit:
// -n executions stored (queued, nobody works them) each way on fresh
// databases of a private redis-server, and prints the submit rate and the
// CPU per execution of this process and of redis-server:
//
//   - Submit, one caller: one round trip per execution;
//   - Submit, -c concurrent callers: the store pipelines their scripts;
//   - SubmitMany, batches of 100 from one caller: one script per batch.
//
// The ratios are SubmitMany's rate over each Submit figure. -cpuprofile
// and -memprofile profile the SubmitMany way.
func runBatchMode(o options, srv *redistest.Server) (int, error) {
	n := o.n
	fmt.Printf("submit rate, %d executions per way, private redis-server %s\n", n, srv.Version)
	req := solvekit.SubmitRequest{JobType: "sum", Instance: sumInstance, Owner: "alice"}
	type way struct {
		name string
		run  func(ctx context.Context, svc *solvekit.Service) error
	}
	ways := []way{
		{"Submit, 1 caller", func(ctx context.Context, svc *solvekit.Service) error {
			for i := 0; i < n; i++ {
				if _, err := svc.Submit(ctx, req); err != nil {
					return err
				}
			}
			return nil
		}},
		{fmt.Sprintf("Submit, %d callers", o.submitters), func(ctx context.Context, svc *solvekit.Service) error {
			var wg sync.WaitGroup
			errs := make(chan error, o.submitters)
			for c := 0; c < o.submitters; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for i := c; i < n; i += o.submitters {
						if _, err := svc.Submit(ctx, req); err != nil {
							errs <- err
							return
						}
					}
				}(c)
			}
			wg.Wait()
			close(errs)
			return <-errs
		}},
		{"SubmitMany, batches of 100, 1 caller", func(ctx context.Context, svc *solvekit.Service) error {
			batch := make([]solvekit.SubmitRequest, 100)
			for i := range batch {
				batch[i] = req
			}
			for done := 0; done < n; done += len(batch) {
				if _, err := svc.SubmitMany(ctx, batch[:min(len(batch), n-done)]); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	rates := make([]float64, len(ways))
	for i, w := range ways {
		ctx := context.Background()
		sc := redis.NewClient(srv.Options(2 + i))
		svc, err := storedSumService(ctx, sc, req) // warm: scripts loaded, connections open
		if err != nil {
			return 1, err
		}
		stop := func() {}
		if i == len(ways)-1 { // -cpuprofile, -memprofile: of SubmitMany
			if stop, err = startProfiles(o); err != nil {
				return 1, err
			}
		}
		before, start := readCPU(sc), time.Now()
		if err := w.run(ctx, svc); err != nil {
			return 1, fmt.Errorf("%s: %w", w.name, err)
		}
		took := time.Since(start)
		stop()
		used := readCPU(sc).sub(before)
		rates[i] = float64(n) / took.Seconds()
		fmt.Printf("  %-40s %8.0f /s   CPU per execution: process %6.1f µs, redis-server %6.1f µs\n", w.name, rates[i],
			float64(used.proc.Microseconds())/float64(n), float64(used.redis.Microseconds())/float64(n))
		_ = svc.Close()
		_ = sc.Close()
	}
	last := rates[len(rates)-1]
	fmt.Printf("\nSubmitMany (batches of 100) over Submit: %.2f× one caller, %.2f× %d callers (goal ≥ 3×)\n",
		last/rates[0], last/rates[1], o.submitters)
	return 0, nil
}
