// Command bench runs raw asynq and solvekit side by side, in one process on
// one Redis, with no-op jobs end to end, and prints both throughputs, their
// ratio and the submit→running latency of each.
//
//	go run ./bench            # N=5000, 16 submitters, worker concurrency 16, 3 rounds
//	go run ./bench -quick     # N=500, 1 round: a CI smoke run
//	go run ./bench -public    # solvekit on asynq's public client API (Config.AsynqPublicAPI)
//	go run ./bench -mode http   # submit→done over HTTP (?wait), 16 clients, vs a net/http handler on asynq
//	go run ./bench -redis redis://localhost:6379/0 -v
//	go run ./bench -mode embedded  # embedded default vs redis-server at 200, 2,000 and 20,000 jobs
//	go run ./bench -mode validate  # validate + submit a 10 MB instance vs json.Unmarshal
//	go run ./bench -mode list -n 1000000  # listing latency at 1M stored executions (list.go)
//	go run ./bench -mode memory -n 100000 # Redis bytes per queued execution vs asynq (queued.go)
//	go run ./bench -mode batch -n 20000   # SubmitMany in batches of 100 vs Submit (queued.go)
//
// Two kinds of run, alternated between the two sides round after round so
// that drift (CPU frequency, Redis memory) hits both alike:
//
//   - saturated: N submits from C concurrent submitters while a worker in the
//     same process drains them. Throughput is N over the time from the first
//     submit call to the last completion. Completion is the last handler
//     return for asynq, and for solvekit the moment every execution is
//     recorded as succeeded (polled once a millisecond after the last job
//     func returned), the stricter of the two. Latency under saturation is
//     mostly time spent waiting in the queue.
//   - idle: submits one at a time, a pause apart, so the latency shown is
//     the pickup latency of an idle worker (the figure the ≤20 ms p50 /
//     ≤60 ms p99 target is about).
//
// submit→running is measured from the start of the Enqueue (asynq) or Submit
// (solvekit) call to the start of the handler (asynq) or job func (solvekit).
// Both servers use the same TaskCheckInterval (solvekit's default, 10ms).
//
// Redis: -redis URL uses that server. Each run then works in its own queue
// and key prefix, and deletes exactly those keys afterwards; nothing else is
// touched. Without -redis, a private redis-server is started (temp dir, unix
// socket, no persistence) when the binary exists, else an embedded
// miniredis; each run gets a fresh logical database of it, flushed after the
// run.
//
// Round trips per job are counted on the client with a go-redis hook (a
// pipeline counts as one) over the measured window, background work
// (heartbeats, sweeps, asynq's idle polling) included. -v adds the
// breakdown, and for redis-server the server-side commandstats per job
// (which also counts the commands run inside Lua scripts). The "cpu µs/job
// g+r" column is the CPU time of this process (g: both the side under test
// and the harness) and of redis-server (r, from INFO cpu; "-" on miniredis,
// which runs inside this process) per job over the measured window.
//
// The summary's "CPU per job asynq/solvekit" divides the two sides' pooled
// CPU per job; on a shared machine it moves less than the throughput
// ratio, so it is the better figure for telling whether a change did less
// work.
//
// -cpuprofile (or -memprofile) with -only solvekit profiles solvekit's
// path alone.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

type options struct {
	redisURL    string
	public      bool
	n           int
	submitters  int
	concurrency int
	interval    time.Duration
	rounds      int
	idleN       int
	idleGap     time.Duration
	pool        int
	only        string
	timeout     time.Duration
	verbose     bool
	check       bool
	cpuprofile  string
	memprofile  string
	mode        string
	sizes       string
	backlog     int
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "CI smoke run: N=500, 50 idle submits, 1 round")
	flag.StringVar(&o.redisURL, "redis", "", "Redis URL to use (default: a private redis-server, else embedded miniredis)")
	flag.BoolVar(&o.public, "public", false, "solvekit side: Config.AsynqPublicAPI (asynq's client API instead of solvekit's fused scripts)")
	flag.IntVar(&o.n, "n", 5000, "jobs per saturated run")
	flag.IntVar(&o.submitters, "c", 16, "concurrent submitters")
	flag.IntVar(&o.concurrency, "workers", 16, "worker concurrency (both sides)")
	flag.DurationVar(&o.interval, "interval", 10*time.Millisecond, "TaskCheckInterval (both sides)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds (each runs both sides, order alternating)")
	flag.IntVar(&o.idleN, "idle", 200, "submits per idle-pickup run (0 skips it)")
	flag.DurationVar(&o.idleGap, "idle-gap", 5*time.Millisecond, "pause between idle submits")
	flag.IntVar(&o.pool, "pool", 64, "go-redis PoolSize (both sides)")
	flag.StringVar(&o.only, "only", "both", "run only one side: asynq, solvekit or both (for profiling)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up on a run after this long")
	flag.BoolVar(&o.verbose, "v", false, "per-command round trips and server commandstats per job")
	flag.BoolVar(&o.check, "check", false, "exit 1 when a target is missed (ratio ≥ 0.6, idle p50 ≤ 20ms, p99 ≤ 60ms)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole program (use with -only)")
	flag.StringVar(&o.memprofile, "memprofile", "", "write an allocation profile of the whole program at the end (use with -only)")
	flag.StringVar(&o.mode, "mode", "asynq", "asynq: solvekit beside raw asynq; embedded: solvekit's embedded default beside a private redis-server; http: submit→done over HTTP beside a net/http handler on raw asynq; validate: a 10 MB instance vs json.Unmarshal; list: listing latency at -n stored executions; memory: Redis bytes per queued execution; batch: SubmitMany vs Submit")
	flag.StringVar(&o.sizes, "sizes", "200,2000,20000", "jobs per run in -mode embedded, comma-separated (-quick: 200,2000)")
	flag.IntVar(&o.backlog, "backlog", -1, "-mode embedded: submitters wait while this many jobs are queued and not started (default 100; 0: no bound)")
	flag.Parse()
	if *quick {
		o.n, o.idleN, o.rounds = 500, 50, 1
		o.sizes = "200,2000"
	}
	modes := map[string]func(options) (int, error){
		"http":     runHTTPMode,
		"embedded": runEmbeddedMode,
		"validate": runValidateMode,
		"list":     onPrivateRedis("list", runListMode),
		"memory":   onPrivateRedis("memory", runMemoryMode),
		"batch":    onPrivateRedis("batch", runBatchMode),
	}
	if run, ok := modes[o.mode]; ok {
		code, err := run(o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		os.Exit(code)
	}
	if o.mode != "asynq" {
		fmt.Fprintln(os.Stderr, "bench: -mode must be asynq, embedded, http, validate, list, memory or batch")
		os.Exit(2)
	}
	if o.only != "both" && o.only != "asynq" && o.only != "solvekit" {
		fmt.Fprintln(os.Stderr, "bench: -only must be asynq, solvekit or both")
		os.Exit(2)
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// env is the Redis every run works on.
type env struct {
	kind   string // shown in the output
	srv    *redistest.Server
	ext    *redis.Options
	owned  bool // we started it: runs get fresh databases, flushed afterwards
	nextDB int
	pool   int
	token  string
	labels bool // name round trips (-v)
}

// target is where one run works: a client, a queue and a key prefix.
type target struct {
	rdb     *redis.Client
	queue   string
	prefix  string
	cleanup func()
	stats   *redis.Client // for INFO (nil when unavailable)
	rt      *rtCounter    // hooked in before anyone uses rdb
}

func newEnv(o options) (*env, error) {
	e := &env{pool: o.pool, token: randHex(4), labels: o.verbose}
	if o.redisURL != "" {
		opt, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		e.ext = opt
		e.kind = fmt.Sprintf("external %s db %d (own queue and key prefix per run, deleted afterwards)", redactURL(o.redisURL), opt.DB)
		return e, nil
	}
	srv, err := redistest.Start()
	if err != nil {
		return nil, err
	}
	e.srv, e.owned = srv, true
	if srv.Kind == "redis-server" {
		e.kind = fmt.Sprintf("private redis-server %s at %s (fresh DB per run)", srv.Version, srv.URL(0))
	} else {
		e.kind = "embedded miniredis (no redis-server on PATH; fresh DB per run)"
	}
	return e, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

func (e *env) close() {
	if e.srv != nil {
		e.srv.Stop()
	}
}

func (e *env) target(name string) *target {
	t := e.newTarget(name)
	t.rt = &rtCounter{by: map[string]int64{}, norm: strings.NewReplacer(t.queue, "Q"), labels: e.labels}
	t.rdb.AddHook(t.rt)
	return t
}

func (e *env) newTarget(name string) *target {
	ctx := context.Background()
	e.nextDB++
	t := &target{queue: fmt.Sprintf("bench-%s-%s-%d", e.token, name, e.nextDB)}
	t.prefix = "{" + t.queue + "}"
	if e.owned {
		opt := e.srv.Options(e.nextDB)
		opt.PoolSize = e.pool
		t.rdb = redis.NewClient(opt)
		if e.srv.Kind == "redis-server" {
			t.stats = t.rdb
		}
		t.cleanup = func() { _ = t.rdb.FlushDB(ctx).Err(); _ = t.rdb.Close() }
		return t
	}
	opt := *e.ext
	opt.PoolSize = e.pool
	t.rdb = redis.NewClient(&opt)
	t.stats = t.rdb
	t.cleanup = func() {
		// Delete exactly this run's keys: its asynq queue and its solvekit prefix.
		for _, pat := range []string{"asynq:{" + t.queue + "}:*", globEscape(t.prefix) + "*"} {
			it := t.rdb.Scan(ctx, 0, pat, 500).Iterator()
			var batch []string
			for it.Next(ctx) {
				batch = append(batch, it.Val())
				if len(batch) == 500 {
					t.rdb.Unlink(ctx, batch...)
					batch = batch[:0]
				}
			}
			if len(batch) > 0 {
				t.rdb.Unlink(ctx, batch...)
			}
		}
		t.rdb.SRem(ctx, "asynq:queues", t.queue)
		_ = t.rdb.Close()
	}
	return t
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// result of one run.
type result struct {
	side    string
	elapsed time.Duration
	n       int
	lat     []time.Duration
	rt      *rtCounter
	server  map[string]int64 // commandstats calls during the window
	cpu     cpuUse
}

func (r *result) throughput() float64 { return float64(r.n) / r.elapsed.Seconds() }

// startProfiles starts -cpuprofile and arranges -memprofile; stop writes
// them out.
func startProfiles(o options) (stop func(), err error) {
	var fs []func()
	stop = func() {
		for i := len(fs) - 1; i >= 0; i-- {
			fs[i]()
		}
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		fs = append(fs, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if o.memprofile != "" {
		fs = append(fs, func() {
			if f, err := os.Create(o.memprofile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		})
	}
	return stop, nil
}

// begin starts the profiles and the Redis of a run; done stops them (and
// a private redis-server is stopped when the program is interrupted).
func begin(o options) (e *env, done func(), err error) {
	stopProfiles, err := startProfiles(o)
	if err != nil {
		return nil, nil, err
	}
	e, err = newEnv(o)
	if err != nil {
		stopProfiles()
		return nil, nil, err
	}
	release := onInterrupt(e.close)
	return e, func() { release(); e.close(); stopProfiles() }, nil
}

func run(o options) (int, error) {
	e, done, err := begin(o)
	if err != nil {
		return 1, err
	}
	defer done()
	shaNames = loadScriptNames()

	fmt.Printf("bench: no-op jobs, N=%d, %d submitters, worker concurrency %d, TaskCheckInterval %s (both sides), pool %d, %d round(s), GOMAXPROCS %d\n",
		o.n, o.submitters, o.concurrency, o.interval, o.pool, o.rounds, goruntime.GOMAXPROCS(0))
	fmt.Printf("redis: %s\n", e.kind)
	path := queue.ChoosePath(queue.LinkedVersion(), false, o.public)
	fmt.Printf("solvekit: asynq %s linked, %s path (%s)\n", queue.LinkedVersion(), path.Name(), cmp.Or(path.Reason, "record and task in one script"))
	fmt.Printf("end of a run: asynq = last handler return; solvekit = last terminal record written (stricter)\n")
	fmt.Printf("rt/job = client round trips per job; cpu µs/job g+r = CPU of this process + of redis-server per job\n\n")

	sides := []string{"asynq", "solvekit"}
	if o.only != "both" {
		sides = []string{o.only}
	}
	order := func(r int) []string {
		if r%2 == 1 {
			return []string{sides[len(sides)-1], sides[0]}[:len(sides)]
		}
		return sides
	}
	// rounds runs each side o.rounds times, in order(r), printing a row a run.
	rounds := func(what string, run func(*env, options, string) (*result, error), row func(r int, side string, res *result)) (map[string][]*result, error) {
		out := map[string][]*result{}
		for r := 0; r < o.rounds; r++ {
			for _, side := range order(r) {
				res, err := run(e, o, side)
				if err != nil {
					return nil, fmt.Errorf("%s %sround %d: %w", side, what, r+1, err)
				}
				out[side] = append(out[side], res)
				row(r, side, res)
			}
		}
		return out, nil
	}

	fmt.Printf("%-9s %-9s %5s %9s %9s %9s %8s %14s\n", "saturated", "side", "round", "jobs/s", "p50", "p99", "rt/job", "cpu µs/job g+r")
	sat, err := rounds("", runSaturated, func(r int, side string, res *result) {
		fmt.Printf("%-9s %-9s %5d %9.0f %9s %9s %8.2f %14s\n", "", side, r+1, res.throughput(),
			fmtDur(pct(res.lat, 50)), fmtDur(pct(res.lat, 99)), float64(res.rt.total.Load())/float64(res.n), res.cpu.perJob(res.n))
	})
	if err != nil {
		return 1, err
	}
	idle := map[string][]*result{}
	if o.idleN > 0 {
		fmt.Printf("\n%-9s %-9s %5s %9s %9s %9s %8s   (%d submits, %s apart)\n", "idle", "side", "round", "", "p50", "p99", "max", o.idleN, o.idleGap)
		idle, err = rounds("idle ", runIdle, func(r int, side string, res *result) {
			fmt.Printf("%-9s %-9s %5d %9s %9s %9s %8s\n", "", side, r+1, "",
				fmtDur(pct(res.lat, 50)), fmtDur(pct(res.lat, 99)), fmtDur(pct(res.lat, 100)))
		})
		if err != nil {
			return 1, err
		}
	}

	// Summary: median throughput over rounds, latencies pooled over rounds.
	fmt.Printf("\nsummary (throughput: median of rounds; latency: all rounds pooled)\n")
	tp := map[string]float64{}
	for _, side := range sides {
		var xs []float64
		var lat, ilat []time.Duration
		var rt, jobs int64
		for _, r := range sat[side] {
			xs = append(xs, r.throughput())
			lat = append(lat, r.lat...)
			rt += r.rt.total.Load()
			jobs += int64(r.n)
		}
		for _, r := range idle[side] {
			ilat = append(ilat, r.lat...)
		}
		tp[side] = median(xs)
		line := fmt.Sprintf("  %-9s %7.0f jobs/s   saturated p50 %-8s p99 %-8s", side, tp[side], fmtDur(pct(lat, 50)), fmtDur(pct(lat, 99)))
		if len(ilat) > 0 {
			line += fmt.Sprintf("   idle p50 %-8s p99 %-8s", fmtDur(pct(ilat, 50)), fmtDur(pct(ilat, 99)))
		}
		line += fmt.Sprintf("   %.2f round trips/job", float64(rt)/float64(jobs))
		fmt.Println(line)
	}
	code := 0
	if o.only == "both" {
		if printRatio(tp, sat["asynq"], sat["solvekit"], 0.6) {
			code = 1
		}
		if w := workRatio(sat["asynq"], sat["solvekit"]); w > 0 {
			// CPU per job moves less than throughput when the machine is
			// shared; it shows whether a change did less work even when
			// the throughput figures are lost in noise.
			fmt.Printf("  CPU per job asynq/solvekit %.2f (process + redis-server, all rounds)\n", w)
		}
	}
	if l := pooled(idle["solvekit"]); len(l) > 0 {
		p50, p99 := pct(l, 50), pct(l, 99)
		verdict := "ok"
		if p50 > 20*time.Millisecond || p99 > 60*time.Millisecond {
			verdict, code = "MISSED", 1
		}
		fmt.Printf("  solvekit idle submit→running p50 %s p99 %s   target ≤ 20ms / ≤ 60ms: %s\n", fmtDur(p50), fmtDur(p99), verdict)
	}
	if o.verbose {
		for _, side := range sides {
			printBreakdown(side, sat[side])
		}
	}
	if !o.check {
		code = 0
	}
	return code, nil
}

// onInterrupt runs stop (stopping the private redis-server) and exits
// when the program is interrupted, until the returned func is called.
func onInterrupt(stop func()) (release func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sig; ok {
			stop()
			os.Exit(130)
		}
	}()
	return func() { signal.Stop(sig) }
}

// printRatio prints the ratio solvekit/asynq of the throughputs tp (and
// of each round's) against target, and reports whether it missed it.
func printRatio(tp map[string]float64, asynqRuns, skRuns []*result, target float64) (missed bool) {
	ratio := tp["solvekit"] / tp["asynq"]
	var per []string
	for i := range skRuns {
		per = append(per, fmt.Sprintf("%.2f", skRuns[i].throughput()/asynqRuns[i].throughput()))
	}
	verdict := "ok"
	if ratio < target {
		verdict, missed = "MISSED", true
	}
	fmt.Printf("  ratio solvekit/asynq %.2f (rounds %s)   target ≥ %.2f: %s\n", ratio, strings.Join(per, " "), target, verdict)
	return missed
}

func pooled(rs []*result) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.lat...)
	}
	return out
}

// Each run starts a fresh worker and pushes one warm-up job through it
// before the clock starts, so that connections and scripts are warm.
func runSaturated(e *env, o options, side string) (*result, error) {
	if side == "asynq" {
		return runAsynq(e, o, false)
	}
	return runSolvekit(e, o, false)
}

func runIdle(e *env, o options, side string) (*result, error) {
	if side == "asynq" {
		return runAsynq(e, o, true)
	}
	return runSolvekit(e, o, true)
}

// recorder collects submit and start times by key.
type recorder struct {
	mu     sync.Mutex
	submit map[string]time.Time
	start  map[string]time.Time
}

func newRecorder(n int) *recorder {
	return &recorder{submit: make(map[string]time.Time, n), start: make(map[string]time.Time, n)}
}

func (r *recorder) submitted(k string, t time.Time) {
	r.mu.Lock()
	r.submit[k] = t
	r.mu.Unlock()
}

func (r *recorder) started(k string, t time.Time) {
	r.mu.Lock()
	r.start[k] = t
	r.mu.Unlock()
}

func (r *recorder) latencies() ([]time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, 0, len(r.submit))
	for k, s := range r.submit {
		st, ok := r.start[k]
		if !ok {
			return nil, fmt.Errorf("job %s submitted but never started", k)
		}
		out = append(out, st.Sub(s))
	}
	slices.Sort(out)
	return out, nil
}

// driveAndWait submits as drive does, then waits until done is closed; after
// o.timeout it gives up, saying how many of the n jobs count says have run
// (verb: "done", "ran").
func driveAndWait(o options, idle bool, submit func(i int) error, done <-chan struct{}, count *atomic.Int64, n int, verb string) error {
	if err := drive(o, idle, submit); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(o.timeout):
		return fmt.Errorf("only %d of %d jobs %s after %s", count.Load(), n, verb, o.timeout)
	}
}

// drive submits the jobs of one run: saturated (C goroutines, as fast as
// they can) or idle (one at a time, idleGap apart).
func drive(o options, idle bool, submit func(i int) error) error {
	if idle {
		next := time.Now()
		for i := 0; i < o.idleN; i++ {
			if err := submit(i); err != nil {
				return err
			}
			next = next.Add(o.idleGap)
			time.Sleep(time.Until(next))
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.submitters)
	for range o.submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.n {
					return
				}
				if err := submit(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func runAsynq(e *env, o options, idle bool) (*result, error) {
	t := e.target("asynq")
	defer t.cleanup()
	n := o.n
	if idle {
		n = o.idleN
	}
	rec := newRecorder(n)
	var completed atomic.Int64
	var end atomic.Int64
	allDone := make(chan struct{})
	warm := make(chan struct{}, 1)

	srv := asynqServer(t, o)
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(ctx context.Context, task *asynq.Task) error {
		now := time.Now()
		k := string(task.Payload())
		if k == "warmup" {
			warm <- struct{}{}
			return nil
		}
		rec.started(k, now)
		if completed.Add(1) == int64(n) {
			end.Store(time.Now().UnixNano())
			close(allDone)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(t.rdb)
	ctx := context.Background()
	if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", []byte("warmup")), asynq.Queue(t.queue)); err != nil {
		return nil, err
	}
	select {
	case <-warm:
	case <-time.After(30 * time.Second):
		return nil, errors.New("warm-up job did not run")
	}

	rt := t.rt
	before := commandStats(t.stats)
	cpu0 := readCPU(t.stats)
	rt.on.Store(true)
	begin := time.Now()
	err := driveAndWait(o, idle, func(i int) error {
		k := strconv.Itoa(i)
		s := time.Now()
		rec.submitted(k, s)
		_, err := client.EnqueueContext(ctx, asynq.NewTask("noop", []byte(k)), asynq.Queue(t.queue))
		return err
	}, allDone, &completed, n, "done")
	if err != nil {
		return nil, err
	}
	rt.on.Store(false)
	res := &result{side: "asynq", n: n, elapsed: time.Unix(0, end.Load()).Sub(begin), rt: rt, cpu: readCPU(t.stats).sub(cpu0)}
	res.server = diffStats(before, commandStats(t.stats))
	res.lat, err = rec.latencies()
	return res, err
}

// asynqServer is the raw asynq side's worker on t's queue, configured as
// solvekit's is (concurrency, TaskCheckInterval), with its logs dropped.
func asynqServer(t *target, o options) *asynq.Server {
	return asynq.NewServerFromRedisClient(t.rdb, asynq.Config{
		Concurrency:       o.concurrency,
		Queues:            map[string]int{t.queue: 1},
		TaskCheckInterval: o.interval,
		Logger:            quietLogger{},
		LogLevel:          asynq.ErrorLevel,
	})
}

// newSolvekit is the solvekit side on t's client, queue and prefix,
// configured as the asynq side is (concurrency, TaskCheckInterval), with
// its logs dropped.
func newSolvekit(t *target, o options) (*solvekit.Service, error) {
	return solvekit.New(context.Background(), solvekit.Config{
		Redis:             t.rdb,
		Prefix:            t.prefix,
		Queues:            map[string]int{t.queue: 1},
		Concurrency:       o.concurrency,
		TaskCheckInterval: o.interval,
		AsynqPublicAPI:    o.public,
		Logger:            slog.New(slog.DiscardHandler),
	})
}

// sumInstance is the instance the modes on a private redis-server
// submit or store.
var sumInstance = json.RawMessage(`{"values":[1,2,3]}`)

// storedSumService is a Service on rdb with the job type "sum" (a no-op
// nobody works here: executions stay queued) and its logs dropped, after
// one submit of first: its scripts are loaded, its connections open and
// the sets every execution shares exist.
func storedSumService(ctx context.Context, rdb *redis.Client, first solvekit.SubmitRequest) (*solvekit.Service, error) {
	svc, err := solvekit.New(ctx, solvekit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if err := svc.Register(job.Async("sum", func(context.Context, *job.Context) (any, error) { return nil, nil })); err != nil {
		return nil, err
	}
	if _, err := svc.Submit(ctx, first); err != nil {
		return nil, err
	}
	return svc, nil
}

func runSolvekit(e *env, o options, idle bool) (*result, error) {
	t := e.target("solvekit")
	defer t.cleanup()
	svc, err := newSolvekit(t, o)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	return measureSolvekit(svc, o, idle, t.queue, t.rt, t.stats)
}

// measureSolvekit runs one measured run of no-op jobs on svc: a warm-up
// job, then o.n submits (o.idleN when idle) through the job type "noop"
// on queue q ("" for the default queue). rt counts round trips when it is
// hooked into svc's client; stats is the client INFO cpu is read from
// (nil: this process's CPU only).
func measureSolvekit(svc *solvekit.Service, o options, idle bool, q string, rt *rtCounter, stats *redis.Client) (*result, error) {
	n := o.n
	if idle {
		n = o.idleN
	}
	rec := newRecorder(n)
	var opts []job.Option
	if q != "" {
		opts = append(opts, job.WithQueue(q))
	}
	var returned atomic.Int64
	allReturned := make(chan struct{})
	measuring := atomic.Bool{}
	// queued bounds the jobs submitted and not started (-backlog): a
	// submitter takes a slot, the job's start frees it.
	var queued chan struct{}
	if o.backlog > 0 && !idle {
		queued = make(chan struct{}, o.backlog)
	}
	err := svc.Register(job.Async("noop", func(ctx context.Context, jc *job.Context) (any, error) {
		rec.started(jc.ExecutionID, time.Now())
		if measuring.Load() {
			if queued != nil {
				<-queued
			}
			if returned.Add(1) == int64(n) {
				close(allReturned)
			}
		}
		return nil, nil
	}, opts...))
	if err != nil {
		return nil, err
	}
	ctx, stopWork := startWork(svc)
	defer stopWork()

	req := solvekit.SubmitRequest{JobType: "noop", Instance: json.RawMessage(`{}`)}
	w, err := svc.Submit(ctx, req)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = svc.Wait(wctx, w.ID)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("warm-up job: %w", err)
	}
	before := commandStats(stats)
	cpu0 := readCPU(stats)
	measuring.Store(true)
	rt.on.Store(true)
	begin := time.Now()
	err = driveAndWait(o, idle, func(i int) error {
		if queued != nil {
			queued <- struct{}{}
		}
		s := time.Now()
		ex, err := svc.Submit(ctx, req)
		if err != nil {
			return err
		}
		rec.submitted(ex.ID, s)
		return nil
	}, allReturned, &returned, n, "ran")
	if err != nil {
		return nil, err
	}
	// Completion is the last terminal record: now that every job func has
	// returned, poll the state counts (1 round trip per ms, only for this
	// short tail) until all n are recorded as succeeded.
	var end time.Time
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		counts, err := svc.Counts(ctx)
		if err != nil {
			return nil, err
		}
		if got := counts[job.StateSucceeded]; got == int64(n)+1 {
			end = time.Now()
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d executions succeeded, want %d", got, n+1)
		}
	}
	rt.on.Store(false)
	res := &result{side: "solvekit", n: n, elapsed: end.Sub(begin), rt: rt, cpu: readCPU(stats).sub(cpu0)}
	res.server = diffStats(before, commandStats(stats))
	res.lat, err = rec.latencies()
	return res, err
}

// startWork runs a worker of svc until the returned stop is called,
// which waits for it to return.
func startWork(svc *solvekit.Service) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Work(ctx) }()
	return ctx, func() { cancel(); <-done }
}

// rtCounter counts client round trips while on, and names them (for -v)
// when labels is set. Naming costs a regexp and a lock per round trip,
// which would weigh on the side that makes more of them, so plain runs
// only count.
type rtCounter struct {
	on     atomic.Bool
	labels bool
	total  atomic.Int64
	mu     sync.Mutex
	by     map[string]int64
	norm   *strings.Replacer
}

func (c *rtCounter) count(label string) {
	c.total.Add(1)
	c.mu.Lock()
	c.by[label]++
	c.mu.Unlock()
}

func (c *rtCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *rtCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if c.on.Load() {
			if c.labels {
				c.count(c.label(cmd))
			} else {
				c.total.Add(1)
			}
		}
		return next(ctx, cmd)
	}
}

func (c *rtCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if c.on.Load() && !c.labels {
			c.total.Add(1)
		} else if c.on.Load() {
			names := make([]string, 0, len(cmds))
			for _, cmd := range cmds {
				names = append(names, c.label(cmd))
			}
			c.count("pipeline[" + strings.Join(names, ", ") + "]")
		}
		return next(ctx, cmds)
	}
}

var idRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:\d+)?`)

// label names a command for the breakdown: scripts by name where known,
// else by their first key with ids replaced by *.
func (c *rtCounter) label(cmd redis.Cmder) string {
	args := cmd.Args()
	name := cmd.Name()
	switch name {
	case "evalsha", "eval":
		if len(args) >= 2 {
			if s, ok := args[1].(string); ok {
				if n, ok := shaNames[scriptSHA(name, s)]; ok {
					return name + " " + n
				}
			}
		}
		if len(args) >= 4 {
			if k, ok := args[3].(string); ok {
				return name + " " + idRe.ReplaceAllString(c.norm.Replace(k), "*")
			}
		}
	case "multi", "exec":
		return name
	}
	if len(args) >= 2 {
		if k, ok := args[1].(string); ok && strings.ContainsAny(k, ":{") {
			return name + " " + idRe.ReplaceAllString(c.norm.Replace(k), "*")
		}
	}
	return name
}

func scriptSHA(cmd, s string) string {
	if cmd == "evalsha" {
		return s
	}
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// shaNames maps the SHA1 of solvekit's Lua scripts to their names, read
// from the source tree when it is at hand (go run ./bench from the repo).
var shaNames map[string]string

func loadScriptNames() map[string]string {
	out := map[string]string{}
	var dirs []string
	if _, file, _, ok := goruntime.Caller(0); ok {
		dirs = append(dirs, filepath.Join(filepath.Dir(file), "..", "store", "lua"))
	}
	dirs = append(dirs, filepath.Join("store", "lua"))
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.lua"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			h := sha1.Sum(b)
			out[hex.EncodeToString(h[:])] = "solvekit/" + strings.TrimSuffix(filepath.Base(f), ".lua")
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// commandStats reads INFO commandstats (calls per command); nil when the
// server does not offer it.
func commandStats(c *redis.Client) map[string]int64 {
	if c == nil {
		return nil
	}
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "cmdstat_")
		if !ok {
			continue
		}
		name, vals, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(vals, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				out[name], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return out
}

func diffStats(before, after map[string]int64) map[string]int64 {
	if before == nil || after == nil {
		return nil
	}
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	// The INFO call itself.
	if out["info"] > 0 {
		out["info"]--
	}
	return out
}

func printBreakdown(side string, rs []*result) {
	if len(rs) == 0 {
		return
	}
	by := map[string]int64{}
	server := map[string]int64{}
	jobs := 0
	for _, r := range rs {
		jobs += r.n
		r.rt.mu.Lock()
		for k, v := range r.rt.by {
			by[k] += v
		}
		r.rt.mu.Unlock()
		for k, v := range r.server {
			server[k] += v
		}
	}
	fmt.Printf("\n%s client round trips per job (saturated runs):\n", side)
	printTop(by, jobs, 0.01)
	if len(server) > 0 {
		fmt.Printf("%s server commands per job (commandstats, script internals included):\n", side)
		printTop(server, jobs, 0.01)
	}
}

func printTop(m map[string]int64, jobs int, minPer float64) {
	type kv struct {
		k string
		v int64
	}
	var xs []kv
	var total int64
	for k, v := range m {
		xs = append(xs, kv{k, v})
		total += v
	}
	slices.SortFunc(xs, func(a, b kv) int { return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.k, b.k)) })
	rest := 0.0
	for _, x := range xs {
		per := float64(x.v) / float64(jobs)
		if per < minPer {
			rest += per
			continue
		}
		fmt.Printf("  %7.3f  %s\n", per, x.k)
	}
	if rest > 0 {
		fmt.Printf("  %7.3f  (others)\n", rest)
	}
	fmt.Printf("  %7.3f  total\n", float64(total)/float64(jobs))
}

// cpuUse is CPU time spent by this process and by redis-server.
type cpuUse struct{ proc, redis time.Duration }

func readCPU(c *redis.Client) cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	u.redis = -1
	if c != nil {
		if info, err := c.Info(context.Background(), "cpu").Result(); err == nil {
			var sum float64
			for _, line := range strings.Split(info, "\n") {
				k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
				if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
					f, _ := strconv.ParseFloat(v, 64)
					sum += f
				}
			}
			u.redis = time.Duration(sum * float64(time.Second))
		}
	}
	return u
}

func (u cpuUse) sub(v cpuUse) cpuUse {
	out := cpuUse{proc: u.proc - v.proc, redis: -1}
	if u.redis >= 0 && v.redis >= 0 {
		out.redis = u.redis - v.redis
	}
	return out
}

// perJob formats "go+redis" CPU microseconds per job ("-" when the
// server's CPU is unknown, as on miniredis, which runs in-process anyway).
// workRatio is the CPU per job (process + redis-server) of the asynq runs
// over that of the solvekit runs, pooled over the rounds; 0 when Redis's
// CPU is not known (miniredis runs in this process).
func workRatio(asynqRuns, skRuns []*result) float64 {
	per := func(rs []*result) float64 {
		var cpu time.Duration
		n := 0
		for _, r := range rs {
			if r.cpu.redis < 0 {
				return 0
			}
			cpu += r.cpu.proc + r.cpu.redis
			n += r.n
		}
		if n == 0 {
			return 0
		}
		return float64(cpu) / float64(n)
	}
	a, k := per(asynqRuns), per(skRuns)
	if a == 0 || k == 0 {
		return 0
	}
	return a / k
}

func (u cpuUse) perJob(n int) string {
	g := float64(u.proc.Microseconds()) / float64(n)
	if u.redis < 0 {
		return fmt.Sprintf("%.0f+-", g)
	}
	return fmt.Sprintf("%.0f+%.0f", g, float64(u.redis.Microseconds())/float64(n))
}

// pct returns the p-th percentile (nearest rank) of sorted durations.
func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	if !slices.IsSorted(xs) {
		xs = slices.Clone(xs)
		slices.Sort(xs)
	}
	i := int(math.Ceil(p/100*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
}

// quietLogger drops asynq's log lines.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}
