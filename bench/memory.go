package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
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
	instance := []byte(`{"values":[1,2,3]}`)

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
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("sum", instance), asynq.Queue("default")); err != nil {
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
		{"plain", solvekit.SubmitRequest{JobType: "sum", Instance: instance}},
		{"owner and job key (as every REST submit)", solvekit.SubmitRequest{JobType: "sum", Instance: instance, Owner: "alice", JobKey: "d2f0c1a9e8b7"}},
		{"owner+2 labels", solvekit.SubmitRequest{JobType: "sum", Instance: instance, Owner: "alice",
			Metadata: map[string]string{"team": "ops", "env": "prod"}}},
	} {
		sc := redis.NewClient(srv.Options(2 + i))
		svc, err := solvekit.New(ctx, solvekit.Config{Redis: sc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return 1, err
		}
		if err := svc.Register(job.Async("sum", func(context.Context, *job.Context) (any, error) { return nil, nil })); err != nil {
			return 1, err
		}
		// One submit first, so that the sets and lists every execution
		// shares exist before the measure.
		if _, err := svc.Submit(ctx, variant.req); err != nil {
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
