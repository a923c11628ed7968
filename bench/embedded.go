package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/serviceredis"
)

// runEmbeddedMode (-mode embedded) runs the same program, solvekit with
// no-op jobs, on a private redis-server and on solvekit's embedded default
// (solvekit.New with no Redis configured: an in-process miniredis), one
// after the other in this process, at each size of -sizes. Each run
// starts from an empty Redis (a fresh database, a fresh embedded Redis)
// and keeps everything its jobs store, so the larger runs show whether a
// command's cost grows with the keys stored.
//
// Submitters keep at most -backlog jobs queued and not started, so that
// every size runs with the same queue depth: miniredis prepends to a list
// by copying it, so asynq's enqueue costs in proportion to the queue, and
// an unbounded queue would mix that cost with the one of stored keys.
// Each size runs -rounds times, the sides taking turns to go first.
//
// It prints jobs/s of each side, their ratio, and CPU per job beside
// them: this process + redis-server for the real server, this process
// alone for the embedded one (which runs inside it).
func runEmbeddedMode(o options) (int, error) {
	var sizes []int
	for _, f := range strings.Split(o.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return 1, fmt.Errorf("-sizes: %q is not a positive number", f)
		}
		sizes = append(sizes, n)
	}
	if o.backlog < 0 {
		o.backlog = 100
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return 1, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 1, err
		}
		defer pprof.StopCPUProfile()
	}
	srv, err := privateRedisServer(o, "embedded")
	if err != nil {
		return 1, err
	}
	defer srv.Stop()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			srv.Stop()
			os.Exit(130)
		}
	}()
	e := &env{srv: srv, owned: true, pool: o.pool, token: randHex(4)}

	backlog := "no bound on jobs queued"
	if o.backlog > 0 {
		backlog = fmt.Sprintf("at most %d jobs queued and not started", o.backlog)
	}
	fmt.Printf("bench -mode embedded: solvekit, no-op jobs, %d submitters (%s), worker concurrency %d, TaskCheckInterval %s\n",
		o.submitters, backlog, o.concurrency, o.interval)
	fmt.Printf("real: private redis-server %s (unix socket, fresh DB per run); embedded: solvekit.New with no Redis configured (fresh per run)\n", srv.Version)
	fmt.Printf("cpu µs/job: this process + redis-server (real); this process, embedded Redis included (embedded)\n\n")
	fmt.Printf("%7s %6s | %9s %14s | %9s %10s %8s | %8s %9s\n",
		"jobs", "round", "real j/s", "cpu µs/job", "emb j/s", "cpu µs/job", "keys", "ratio", "cpu ratio")
	code := 0
	var ratios, embCPU []float64
	for _, n := range sizes {
		o.n = n
		var rs []embeddedRound
		for r := range max(o.rounds, 1) {
			// Sides alternate which goes first, as the machine's load drifts.
			round, err := runEmbeddedRound(e, o, r%2 == 1)
			if err != nil {
				return 1, err
			}
			rs = append(rs, round)
			round.print(fmt.Sprint(r+1), n)
		}
		med := medianRound(rs)
		if len(rs) > 1 {
			med.print("median", n)
		}
		ratios = append(ratios, med.embTP/med.realTP)
		embCPU = append(embCPU, median(roundFigures(rs, func(r embeddedRound) float64 { return r.embCPU })))
	}
	fmt.Println()
	low := ratios[0]
	for _, r := range ratios {
		low = min(low, r)
	}
	verdict := "ok"
	if low < 0.3 {
		verdict, code = "MISSED", 1
	}
	fmt.Printf("  lowest (median) ratio embedded/redis-server %.2f   target ≥ 0.30: %s\n", low, verdict)
	if last := len(sizes) - 1; last > 0 {
		fmt.Printf("  at %d jobs against %d: median ratio ×%.2f, median embedded CPU per job ×%.2f (flat ≈ 1; CPU above 1 means cost grows with stored keys)\n",
			sizes[last], sizes[0], ratios[last]/ratios[0], embCPU[last]/embCPU[0])
	}
	if !o.check {
		code = 0
	}
	return code, nil
}

// runEmbedded runs one measured run on a fresh embedded default and
// returns it with the number of keys stored at its end.
func runEmbedded(o options) (*result, int64, error) {
	svc, err := solvekit.New(context.Background(), solvekit.Config{
		Concurrency:       o.concurrency,
		TaskCheckInterval: o.interval,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, 0, err
	}
	defer svc.Close()
	if !svc.Embedded() {
		return nil, 0, errors.New("solvekit.New without Redis did not start the embedded Redis")
	}
	res, err := measureSolvekit(svc, o, false, "", &rtCounter{by: map[string]int64{}}, nil)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb, _ := serviceredis.Of(svc)
	keys, err := rdb.DBSize(ctx).Result()
	return res, keys, err
}

// embeddedRound is one run of each side at one size.
type embeddedRound struct {
	realTP, embTP   float64 // jobs/s
	realCPU, embCPU float64 // µs per job: this process + redis-server; this process
	realProc        float64 // µs per job of this process alone, real side
	keys            int64   // keys the embedded Redis held at the end
}

// runEmbeddedRound runs the real side then the embedded one (the other
// way round when embFirst), each labelled for -cpuprofile: go tool pprof
// -tagfocus side=embedded.
func runEmbeddedRound(e *env, o options, embFirst bool) (embeddedRound, error) {
	var (
		real, emb *result
		keys      int64
		realErr   error
		embErr    error
	)
	runReal := func() {
		pprof.Do(context.Background(), pprof.Labels("side", "redis-server"), func(context.Context) {
			real, realErr = runSolvekit(e, o, false)
		})
	}
	runEmb := func() {
		pprof.Do(context.Background(), pprof.Labels("side", "embedded"), func(context.Context) {
			emb, keys, embErr = runEmbedded(o)
		})
	}
	if embFirst {
		runEmb()
		runReal()
	} else {
		runReal()
		runEmb()
	}
	if realErr != nil {
		return embeddedRound{}, fmt.Errorf("redis-server, %d jobs: %w", o.n, realErr)
	}
	if embErr != nil {
		return embeddedRound{}, fmt.Errorf("embedded, %d jobs: %w", o.n, embErr)
	}
	perJob := func(d time.Duration) float64 { return float64(d) / float64(o.n) / 1e3 }
	return embeddedRound{
		realTP: real.throughput(), embTP: emb.throughput(),
		realCPU: perJob(real.cpu.proc + real.cpu.redis), realProc: perJob(real.cpu.proc),
		embCPU: perJob(emb.cpu.proc), keys: keys,
	}, nil
}

// medianRound is the round whose ratio embedded/redis-server is the
// median (the lower middle one for an even count): all its figures come
// from one run.
func medianRound(rs []embeddedRound) embeddedRound {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b embeddedRound) int { return cmp.Compare(a.embTP/a.realTP, b.embTP/b.realTP) })
	return s[(len(s)-1)/2]
}

// roundFigures is one figure of each round.
func roundFigures(rs []embeddedRound, f func(embeddedRound) float64) []float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return xs
}

func (r embeddedRound) print(round string, n int) {
	fmt.Printf("%7d %6s | %9.0f %8.0f+%-5.0f | %9.0f %10.0f %8d | %7.2f× %8.2f×\n",
		n, round, r.realTP, r.realProc, r.realCPU-r.realProc, r.embTP, r.embCPU, r.keys,
		r.embTP/r.realTP, r.realCPU/r.embCPU)
}
