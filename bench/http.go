package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// runHTTPMode (-mode http) measures submit→done over HTTP: -c clients each
// POST a no-op job and wait in the same request for it to end, one after
// the other, against two servers in this process on the same private
// redis-server (each in a fresh database), with a worker of concurrency
// -workers in the process:
//
//   - anchor: a minimal net/http handler over raw asynq. It checks a fixed
//     API key held in memory, decodes the body, enqueues an asynq task and
//     waits for it. The task's handler PUBLISHes the task's id on one
//     channel when it returns; the handlers share one subscription to that
//     channel with a map of waiters (the cheapest completion signal such a
//     handler can have: no polling, one PUBLISH per job, no per-request
//     SUBSCRIBE). It answers 201 with a small JSON body.
//   - solvekit: transport/httpapi's handler on an httptest server, with an
//     API key (created through the API) on every request, POST
//     /executions?wait=60s of an async no-op job type; the answer is the
//     full execution record.
//
// Every client checks each answer (201, state succeeded). Throughput is
// the jobs over the time from the first request to the last answer. CPU
// per job is this process (clients, servers and workers alike) plus
// redis-server over the measured window. Rounds alternate the order of
// the two sides.
func runHTTPMode(o options) (int, error) {
	if o.redisURL != "" {
		return 1, errors.New("-mode http starts its own private redis-server; -redis does not apply")
	}
	e, done, err := begin(o)
	if err != nil {
		return 1, err
	}
	defer done()
	if e.srv.Kind != "redis-server" {
		return 1, errors.New("-mode http needs redis-server on PATH")
	}
	srv := e.srv

	fmt.Printf("bench -mode http: submit→done over HTTP, no-op jobs, N=%d per run, %d clients, worker concurrency %d, TaskCheckInterval %s, %d round(s)\n",
		o.n, o.submitters, o.concurrency, o.interval, o.rounds)
	fmt.Printf("redis: private redis-server %s (unix socket, fresh DB per run)\n", srv.Version)
	fmt.Printf("asynq: net/http handler, fixed in-memory API key, Enqueue + one shared SUBSCRIBE for done (the task handler PUBLISHes its id)\n")
	fmt.Printf("solvekit: httpapi handler, API key, POST /executions?wait=60s\n")
	fmt.Printf("cpu µs/job g+r = CPU of this process (clients, servers, workers) + of redis-server per job\n\n")

	sides := []string{"asynq", "solvekit"}
	if o.only != "both" {
		sides = []string{o.only}
	}
	runs := map[string][]*result{}
	fmt.Printf("%-9s %5s %9s %9s %9s %8s %14s\n", "side", "round", "jobs/s", "p50", "p99", "rt/job", "cpu µs/job g+r")
	for r := 0; r < o.rounds; r++ {
		order := sides
		if r%2 == 1 && len(sides) == 2 {
			order = []string{sides[1], sides[0]}
		}
		for _, side := range order {
			var res *result
			pprof.Do(context.Background(), pprof.Labels("side", side), func(context.Context) {
				if side == "asynq" {
					res, err = runHTTPAsynq(e, o)
				} else {
					res, err = runHTTPSolvekit(e, o)
				}
			})
			if err != nil {
				return 1, fmt.Errorf("%s round %d: %w", side, r+1, err)
			}
			runs[side] = append(runs[side], res)
			fmt.Printf("%-9s %5d %9.0f %9s %9s %8.2f %14s\n", side, r+1, res.throughput(),
				fmtDur(pct(res.lat, 50)), fmtDur(pct(res.lat, 99)), float64(res.rt.total.Load())/float64(res.n), res.cpu.perJob(res.n))
		}
	}
	fmt.Printf("\nsummary (throughput: median of rounds; request latency and CPU: all rounds pooled)\n")
	tp := map[string]float64{}
	cpu := map[string]float64{}
	for _, side := range sides {
		var xs []float64
		var lat []time.Duration
		var rt, jobs int64
		var c time.Duration
		for _, r := range runs[side] {
			xs = append(xs, r.throughput())
			lat = append(lat, r.lat...)
			rt += r.rt.total.Load()
			jobs += int64(r.n)
			c += r.cpu.proc + max(r.cpu.redis, 0)
		}
		tp[side] = median(xs)
		cpu[side] = float64(c.Microseconds()) / float64(jobs)
		fmt.Printf("  %-9s %7.0f jobs/s   request p50 %-8s p90 %-8s p99 %-8s max %-8s   %.2f round trips/job   %.0f µs CPU/job (process + redis-server)\n",
			side, tp[side], fmtDur(pct(lat, 50)), fmtDur(pct(lat, 90)), fmtDur(pct(lat, 99)), fmtDur(pct(lat, 100)), float64(rt)/float64(jobs), cpu[side])
	}
	code := 0
	if len(sides) == 2 {
		if printRatio(tp, runs["asynq"], runs["solvekit"], 0.5) {
			code = 1
		}
		fmt.Printf("  CPU per job asynq/solvekit %.2f (%.0f / %.0f µs)\n", cpu["asynq"]/cpu["solvekit"], cpu["asynq"], cpu["solvekit"])
	}
	if o.verbose {
		for _, side := range sides {
			printBreakdown("http "+side, runs[side])
		}
	}
	if !o.check {
		code = 0
	}
	return code, nil
}

// httpClient is a keep-alive client with a connection per client.
func httpClient(o options) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * o.submitters, MaxIdleConnsPerHost: 2 * o.submitters}, Timeout: o.timeout}
}

// post sends body as JSON with the headers and returns the status and the
// answer's body.
func post(c *http.Client, url string, hdr map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// driveHTTP runs o.n submit→done requests from o.submitters clients and
// returns the result (rt counting on during the window).
func driveHTTP(o options, t *target, side string, submit func() error) (*result, error) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, o.n)
	cpu0 := readCPU(t.stats)
	t.rt.on.Store(true)
	begin := time.Now()
	err := drive(o, false, func(int) error {
		s := time.Now()
		if err := submit(); err != nil {
			return err
		}
		d := time.Since(s)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return nil
	})
	elapsed := time.Since(begin)
	t.rt.on.Store(false)
	if err != nil {
		return nil, err
	}
	res := &result{side: side, n: o.n, elapsed: elapsed, rt: t.rt, cpu: readCPU(t.stats).sub(cpu0), lat: lat}
	return res, nil
}

// noopBody is what every client posts, to both sides.
var noopBody = []byte(`{"job_type":"noop","instance":{}}`)

// answer is what the clients read of an answer (both sides).
type answer struct {
	ID    string    `json:"id"`
	State job.State `json:"state"`
}

func checkAnswer(status int, b []byte) error {
	if status != http.StatusCreated {
		return fmt.Errorf("status %d: %s", status, b)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if a.ID == "" || a.State != job.StateSucceeded {
		return fmt.Errorf("answer %s: not a succeeded execution", b)
	}
	return nil
}

func runHTTPAsynq(e *env, o options) (*result, error) {
	t := e.target("http-asynq")
	defer t.cleanup()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	doneCh := t.queue + ":done"

	// One subscription for every waiting request.
	var mu sync.Mutex
	waiters := map[string]chan struct{}{}
	ps := t.rdb.Subscribe(ctx, doneCh)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		return nil, err
	}
	go func() {
		for m := range ps.Channel() {
			mu.Lock()
			ch := waiters[m.Payload]
			delete(waiters, m.Payload)
			mu.Unlock()
			if ch != nil {
				close(ch)
			}
		}
	}()

	srv := asynqServer(t, o)
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(ctx context.Context, task *asynq.Task) error {
		return t.rdb.Publish(ctx, doneCh, task.ResultWriter().TaskID()).Err()
	})
	if err := srv.Start(mux); err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(t.rdb)

	key := "sk_" + randHex(24)
	h := http.NewServeMux()
	h.HandleFunc("POST /executions", func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-API-Key")), []byte(key)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
		if err != nil {
			http.Error(w, "bad wait", http.StatusBadRequest)
			return
		}
		var req struct {
			JobType  string          `json:"job_type"`
			Instance json.RawMessage `json:"instance"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.JobType != "noop" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		id := uuid.NewString()
		done := make(chan struct{})
		mu.Lock()
		waiters[id] = done
		mu.Unlock()
		if _, err := client.EnqueueContext(r.Context(), asynq.NewTask(req.JobType, req.Instance), asynq.Queue(t.queue), asynq.TaskID(id)); err != nil {
			mu.Lock()
			delete(waiters, id)
			mu.Unlock()
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		state := job.StateSucceeded
		tm := time.NewTimer(wait)
		select {
		case <-done:
		case <-tm.C:
			state = job.StateQueued
		case <-r.Context().Done():
			state = job.StateQueued
		}
		tm.Stop()
		mu.Lock()
		delete(waiters, id)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/executions/"+id)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(answer{ID: id, State: state})
	})
	hs := httptest.NewServer(h)
	defer hs.Close()
	c := httpClient(o)
	defer c.CloseIdleConnections()
	return measureHTTP(o, t, "asynq", c, hs.URL, key)
}

// measureHTTP warms the server at base up with one job, then measures
// (driveHTTP) POST /executions?wait=60s with the API key.
func measureHTTP(o options, t *target, side string, c *http.Client, base, key string) (*result, error) {
	url := base + "/executions?wait=60s"
	hdr := map[string]string{"X-API-Key": key}
	submit := func() error {
		st, b, err := post(c, url, hdr, noopBody)
		if err != nil {
			return err
		}
		return checkAnswer(st, b)
	}
	if err := submit(); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	return driveHTTP(o, t, side, submit)
}

func runHTTPSolvekit(e *env, o options) (*result, error) {
	t := e.target("http-solvekit")
	defer t.cleanup()
	quiet := slog.New(slog.DiscardHandler)
	svc, err := newSolvekit(t, o)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	err = svc.Register(job.Async("noop", func(context.Context, *job.Context) (any, error) { return nil, nil }, job.WithQueue(t.queue)))
	if err != nil {
		return nil, err
	}
	_, stopWork := startWork(svc)
	defer stopWork()

	secret := []byte(randHex(32))
	pw := randHex(12)
	h, err := httpapi.New(svc, httpapi.Options{JWTSecret: secret, BootstrapAdmin: &httpapi.BootstrapAdmin{Username: "bench", Password: pw}, Logger: quiet})
	if err != nil {
		return nil, err
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	c := httpClient(o)
	defer c.CloseIdleConnections()

	// An API key, as a service integration would use.
	body, _ := json.Marshal(api.LoginRequest{Username: "bench", Password: pw})
	st, b, err := post(c, hs.URL+"/login", nil, body)
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("login: %d %s %v", st, b, err)
	}
	var tok api.TokenResponse
	if err := json.Unmarshal(b, &tok); err != nil {
		return nil, err
	}
	st, b, err = post(c, hs.URL+"/apiKeys", map[string]string{"Authorization": "Bearer " + tok.Token}, []byte(`{"name":"bench"}`))
	if err != nil || st != http.StatusCreated {
		return nil, fmt.Errorf("create API key: %d %s %v", st, b, err)
	}
	var key api.APIKeyCreated
	if err := json.Unmarshal(b, &key); err != nil {
		return nil, err
	}

	return measureHTTP(o, t, "solvekit", c, hs.URL, key.Key)
}
