package prom_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/prom"
	"github.com/solvekit/solvekit/solvekittest"
)

// jobs: "ok" succeeds, "bad" fails with job.Fail, "slow" runs until
// stopped, "zombie" hangs in its first attempt without heeding its context
// (its worker lost Redis) and succeeds in the second.
func jobs(release <-chan struct{}) []*job.Definition {
	return []*job.Definition{
		job.Async("ok", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil }),
		job.Async("bad", func(ctx context.Context, jc *job.Context) (any, error) { return nil, job.Fail("no", nil) }),
		job.Async("slow", func(ctx context.Context, jc *job.Context) (any, error) { <-ctx.Done(); return nil, ctx.Err() }),
		job.Async("zombie", func(ctx context.Context, jc *job.Context) (any, error) {
			if jc.Attempt == 1 {
				<-release
			}
			return 2, nil
		}),
	}
}

// scrape reads the metrics handler's answer with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	require.NoError(t, err)
	return fams
}

// value returns the value of the sample of family name whose labels
// include want (a counter's or gauge's value, a histogram's count).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no metric %s", name)
	total := 0.0
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// TestMetricsAfterWorkload: after executions that succeed, fail, are
// stopped while running, are cancelled while queued, and one whose first
// attempt is lost, the scraped counters, gauges and histogram counts say
// so, and the HTTP middleware counts requests by route.
func TestMetricsAfterWorkload(t *testing.T) {
	srv := redistest.Current(t)
	db := srv.DB(t)
	release := make(chan struct{})
	ctx := context.Background()

	// Process A takes the zombie's first attempt, then loses touch with
	// Redis for everything about it and stops working (its shutdown cannot
	// hand the attempt back either).
	rdbA := redis.NewClient(srv.Options(db))
	cut := &cutHook{}
	rdbA.AddHook(cut)
	a := solvekittest.Start(t, solvekittest.Options{NoWorker: true, Config: solvekit.Config{Redis: rdbA, DisableCallbacks: true,
		HeartbeatInterval: 50 * time.Millisecond, ShutdownTimeout: 100 * time.Millisecond, StopGrace: 100 * time.Millisecond}}, jobs(release)...)
	t.Cleanup(func() { close(release) })
	actx, stopA := context.WithCancel(ctx)
	aDone := make(chan struct{})
	go func() { defer close(aDone); _ = a.Work(actx) }()
	defer func() { stopA(); <-aDone }()

	rdbB := redis.NewClient(srv.Options(db))
	t.Cleanup(func() { rdbB.Close() })
	b := solvekittest.Start(t, solvekittest.Options{NoWorker: true, Config: solvekit.Config{Redis: rdbB, ObserveRedis: true,
		HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 500 * time.Millisecond, SweepInterval: 50 * time.Millisecond,
		CallbackSecret: []byte("test-secret"), CallbackAllowPrivate: true, CallbackInterval: 20 * time.Millisecond,
		CallbackBackoff: func(int) time.Duration { return 20 * time.Millisecond }}}, jobs(release)...)
	m, err := prom.New(b, prom.Options{ScrapeCache: time.Nanosecond})
	require.NoError(t, err)
	defer m.Close()

	z, err := b.Submit(ctx, solvekit.SubmitRequest{JobType: "zombie", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	solvekittest.WaitState(t, b, z.ID, job.StateRunning, patience.Scale(10*time.Second))
	cut.id.Store(z.ID)
	stopA()
	<-aDone

	// B works from now on: it finds the zombie's attempt lost and runs it again.
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Work(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	// The callback receiver fails its first request.
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer rcv.Close()
	submitTo := func(jt, resultURL string) string {
		e, err := b.Submit(ctx, solvekit.SubmitRequest{JobType: jt, Instance: json.RawMessage(`{}`), ResultURL: resultURL})
		require.NoError(t, err)
		return e.ID
	}
	submit := func(jt string) string { return submitTo(jt, "") }
	wait := func(id string, st job.State) {
		require.Equal(t, st, solvekittest.Wait(t, b, id, patience.Scale(30*time.Second)).State)
	}
	wait(z.ID, job.StateSucceeded)
	wait(submitTo("ok", rcv.URL), job.StateSucceeded)
	for range 2 {
		wait(submit("ok"), job.StateSucceeded)
	}
	wait(submit("bad"), job.StateFailed)
	slow := submit("slow")
	solvekittest.WaitState(t, b, slow, job.StateRunning, patience.Scale(10*time.Second))
	require.Eventually(t, func() bool { // B's worker writes heartbeats for it
		return value(t, scrape(t, m.Handler()), "solvekit_heartbeat_lag_seconds", nil) >= 2
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.NoError(t, b.Cancel(ctx, slow))
	wait(slow, job.StateStopped)

	// An end is counted just after it is stored, when Wait may already
	// have seen it (and a stop is stored before the stopped job returns):
	// wait until the six ends are counted.
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		fams = scrape(t, m.Handler())
		return value(t, fams, "solvekit_executions_finished_total", nil) == 6
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Equal(t, 3.0, value(t, fams, "solvekit_executions_submitted_total", map[string]string{"job_type": "ok"}))
	require.Equal(t, 6.0, value(t, fams, "solvekit_executions_submitted_total", nil))
	require.Equal(t, 3.0, value(t, fams, "solvekit_executions_finished_total", map[string]string{"job_type": "ok", "state": "succeeded"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions_finished_total", map[string]string{"job_type": "bad", "state": "failed"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions_finished_total", map[string]string{"job_type": "slow", "state": "stopped"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions_finished_total", map[string]string{"job_type": "zombie", "state": "succeeded"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_attempts_lost_total", map[string]string{"job_type": "zombie"}))
	require.Equal(t, 6.0, value(t, fams, "solvekit_execution_duration_seconds", nil), "one run time per ended execution")
	require.Equal(t, 5.0, value(t, fams, "solvekit_execution_queue_wait_seconds", nil), "first attempts started by B (the zombie's was A's)")
	require.Equal(t, 0.0, value(t, fams, "solvekit_attempts_running", nil))
	require.Equal(t, 4.0, value(t, fams, "solvekit_executions", map[string]string{"state": "succeeded"}), "stored executions, all processes")
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions", map[string]string{"state": "failed"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions", map[string]string{"state": "stopped"}))
	require.Equal(t, 0.0, value(t, fams, "solvekit_queue_tasks", map[string]string{"queue": "default", "state": "pending"}))
	require.Contains(t, fams, "solvekit_queue_latency_seconds")

	// The callback: one failed attempt, then a delivery.
	require.Eventually(t, func() bool {
		fams = scrape(t, m.Handler())
		return value(t, fams, "solvekit_callback_attempts_total", map[string]string{"outcome": "delivered"}) == 1
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Equal(t, 1.0, value(t, fams, "solvekit_callback_attempts_total", map[string]string{"job_type": "ok", "outcome": "retry"}))
	require.Equal(t, 0.0, value(t, fams, "solvekit_callback_attempts_total", map[string]string{"outcome": "failed"}))

	// A failed command of B's Redis client (ObserveRedis) is counted.
	require.Error(t, rdbB.Do(ctx, "NOSUCHCOMMAND").Err())
	fams = scrape(t, m.Handler())
	require.Equal(t, 1.0, value(t, fams, "solvekit_redis_errors_total", map[string]string{"class": "error", "command": "nosuchcommand"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_redis_errors_total", nil), "no other failure in the workload")

	// A queued execution cancelled before it runs (no worker now).
	stop()
	<-done
	q := submit("ok")
	require.NoError(t, b.Cancel(ctx, q))
	fams = scrape(t, m.Handler())
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions_cancelled_total", map[string]string{"job_type": "ok"}))
	require.Equal(t, 7.0, value(t, fams, "solvekit_executions_submitted_total", nil))
	require.Equal(t, 2.0, value(t, fams, "solvekit_executions", map[string]string{"state": "stopped"}))
}

// TestHTTPMiddleware: requests are counted by the route pattern the mux
// matched, method and status, and timed.
func TestHTTPMiddleware(t *testing.T) {
	svc := solvekittest.Start(t, solvekittest.Options{NoWorker: true})
	m, err := prom.New(svc, prom.Options{})
	require.NoError(t, err)
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	h := m.Middleware(mux)
	for _, p := range []string{"/things/1", "/things/2", "/things/missing", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	fams := scrape(t, m.Handler())
	require.Equal(t, 2.0, value(t, fams, "solvekit_http_requests_total", map[string]string{"route": "GET /things/{id}", "code": "200"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_http_requests_total", map[string]string{"route": "GET /things/{id}", "code": "404"}))
	require.Equal(t, 1.0, value(t, fams, "solvekit_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}))
	require.Equal(t, 3.0, value(t, fams, "solvekit_http_request_duration_seconds", map[string]string{"route": "GET /things/{id}"}))

	// The default registry is private: a second Metrics on a new registry
	// does not collide, and the global registry holds none of them.
	m2, err := prom.New(svc, prom.Options{})
	require.NoError(t, err)
	m2.Close()
}

// cutHook fails every command of a client that names a given execution id
// once one is set: the client's process has lost touch with Redis for it.
type cutHook struct{ id atomic.Value }

func (h *cutHook) cuts(cmd redis.Cmder) bool {
	id, _ := h.id.Load().(string)
	if id == "" {
		return false
	}
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.Contains(s, id) {
			return true
		}
	}
	return false
}

func (h *cutHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cutHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.cuts(cmd) {
			cmd.SetErr(errCut)
			return errCut
		}
		return next(ctx, cmd)
	}
}

func (h *cutHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if h.cuts(c) {
				c.SetErr(errCut)
				return errCut
			}
		}
		return next(ctx, cmds)
	}
}

var errCut = errors.New("test: connection cut")

// TestRegisterer: the collectors go on any Registerer (here one that adds
// a label); Handler serves the registry under it when it is one, or the
// Gatherer given, or else a private registry of these collectors only
// (without the wrapper's label).
func TestRegisterer(t *testing.T) {
	svc := solvekittest.Start(t, solvekittest.Options{NoWorker: true}, job.Sync("ok",
		func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil }))
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"replica": "a"}, reg)
	m, err := prom.New(svc, prom.Options{Registerer: wrapped, Gatherer: reg})
	require.NoError(t, err)
	defer m.Close()
	alone, err := prom.New(svc, prom.Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"replica": "b"}, prometheus.NewRegistry())})
	require.NoError(t, err)
	defer alone.Close()
	_, err = svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "ok", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	fams := scrape(t, m.Handler())
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions_finished_total", map[string]string{"replica": "a", "state": "succeeded"}))
	fams = scrape(t, alone.Handler()) // a private registry: the collectors without the wrapper's label
	require.Equal(t, 1.0, value(t, fams, "solvekit_executions_finished_total", map[string]string{"state": "succeeded"}))
	_, err = prom.New(svc, prom.Options{Registerer: wrapped})
	require.Error(t, err, "the same collectors twice on one registry")
}

// TestNoRedisErrorsOnEmbedded: a workload on the embedded Redis, whose
// client the Service makes (and observes) itself, counts no Redis errors:
// nothing solvekit or asynq sends in normal operation is refused.
func TestNoRedisErrorsOnEmbedded(t *testing.T) {
	svc := solvekittest.Start(t, solvekittest.Options{Config: solvekit.Config{HeartbeatInterval: 20 * time.Millisecond}},
		job.Async("nap", func(ctx context.Context, jc *job.Context) (any, error) {
			time.Sleep(100 * time.Millisecond)
			return 1, nil
		}))
	m, err := prom.New(svc, prom.Options{ScrapeCache: time.Nanosecond})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	for range 3 {
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "nap", Instance: json.RawMessage(`{}`)})
		require.NoError(t, err)
		require.Equal(t, job.StateSucceeded, solvekittest.Wait(t, svc, e.ID, patience.Scale(30*time.Second)).State)
	}
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		fams = scrape(t, m.Handler())
		return value(t, fams, "solvekit_heartbeat_lag_seconds", nil) >= 1
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	if f, ok := fams["solvekit_redis_errors_total"]; ok {
		t.Fatalf("Redis errors counted: %v", f)
	}
}
