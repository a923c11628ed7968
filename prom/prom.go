package prom

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/httpstatus"
	"github.com/solvekit/solvekit/job"
)

// Options configure the metrics. The zero value is ready to use.
type Options struct {
	// Registry is where the collectors are registered and what Handler
	// serves. Default: a new registry of its own (pass
	// prometheus.DefaultRegisterer.(*prometheus.Registry) to use the global
	// one).
	Registry *prometheus.Registry
	// Registerer, when set, is where the collectors are registered
	// instead of Registry: any prometheus.Registerer, such as one made by
	// prometheus.WrapRegistererWith to add labels or a prefix. Handler
	// then serves Gatherer, else the Registerer itself when it is also a
	// prometheus.Gatherer (a *prometheus.Registry), else a private
	// registry that holds only these collectors, as they are (without
	// what a wrapping Registerer adds): a host that serves its registry
	// itself needs no Handler.
	Registerer prometheus.Registerer
	// Gatherer is what Handler serves when Registerer is set.
	Gatherer prometheus.Gatherer
	// Namespace prefixes every metric name. Default "solvekit".
	Namespace string
	// DurationBuckets are the buckets (seconds) of the run-time and
	// queue-wait histograms. Default 0.01s to about 3h, ×4 each.
	DurationBuckets []float64
	// HTTPBuckets are the buckets (seconds) of the HTTP latency histogram.
	// Default prometheus.DefBuckets.
	HTTPBuckets []float64
	// HeartbeatBuckets are the buckets (seconds) of the heartbeat lag
	// histogram. Default 0.05s to about 50s, ×2 each (the lag is about
	// Config.HeartbeatInterval, 2s by default; attempts are lost past
	// Config.HeartbeatTimeout).
	HeartbeatBuckets []float64
	// ScrapeCache is how long the values read from Redis at a scrape
	// (stored executions by state, queues) are reused. Default 5s.
	ScrapeCache time.Duration
	// ScrapeTimeout bounds those reads. Default 3s.
	ScrapeTimeout time.Duration
}

// Metrics holds a Service's collectors. Close it to stop counting.
type Metrics struct {
	gatherer prometheus.Gatherer
	// handlerReg is the registerer promhttp counts its own errors on (nil
	// when the gatherer is not a registry of ours or the user's).
	handlerReg           prometheus.Registerer
	unsubscribe, unsigns func()

	submitted, finished, retried, lost, cancelled, relaunched, requeued *prometheus.CounterVec
	duration, queueWait                                                 *prometheus.HistogramVec
	running                                                             *prometheus.GaugeVec
	httpRequests                                                        *prometheus.CounterVec
	httpLatency                                                         *prometheus.HistogramVec
	scrapeErrors, heartbeatFailures                                     prometheus.Counter
	callbacks, redisErrors                                              *prometheus.CounterVec
	heartbeatLag                                                        prometheus.Histogram
}

// New registers svc's metrics on o.Registerer, else o.Registry (a new
// private registry by default), and starts counting its state changes and
// signals.
func New(svc *solvekit.Service, o Options) (*Metrics, error) {
	if svc == nil {
		return nil, errors.New("prom: nil service")
	}
	var private *prometheus.Registry // serves a Registerer that gathers nothing
	reg, gatherer := prometheus.Registerer(o.Registry), prometheus.Gatherer(o.Registry)
	switch {
	case o.Registerer != nil:
		reg, gatherer = o.Registerer, o.Gatherer
		if gatherer == nil {
			if g, ok := o.Registerer.(prometheus.Gatherer); ok {
				gatherer = g
			} else {
				private = prometheus.NewRegistry()
				gatherer = private
			}
		}
	case o.Registry == nil:
		r := prometheus.NewRegistry()
		reg, gatherer = r, r
	}
	if o.Namespace == "" {
		o.Namespace = "solvekit"
	}
	if o.DurationBuckets == nil {
		o.DurationBuckets = prometheus.ExponentialBuckets(0.01, 4, 12)
	}
	if o.HTTPBuckets == nil {
		o.HTTPBuckets = prometheus.DefBuckets
	}
	if o.HeartbeatBuckets == nil {
		o.HeartbeatBuckets = prometheus.ExponentialBuckets(0.05, 2, 11)
	}
	if o.ScrapeCache <= 0 {
		o.ScrapeCache = 5 * time.Second
	}
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = 3 * time.Second
	}
	ns := o.Namespace
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		gatherer:   gatherer,
		submitted:  counter("executions_submitted_total", "Executions submitted through this process.", "job_type"),
		finished:   counter("executions_finished_total", "Attempts that ended an execution in this process, by end state and solver status.", "job_type", "state", "solver_status"),
		retried:    counter("attempts_retried_total", "Attempts that failed with retries left and were queued again.", "job_type"),
		lost:       counter("attempts_lost_total", "Attempts whose worker stopped sending heartbeats, found by this process's sweeper.", "job_type"),
		cancelled:  counter("executions_cancelled_total", "Queued executions stopped before they ran.", "job_type"),
		relaunched: counter("executions_relaunched_total", "Finished executions started again.", "job_type"),
		requeued:   counter("attempts_requeued_total", "Running attempts handed back to the queue by a worker shutting down.", "job_type"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "execution_duration_seconds",
			Help: "Run time of the attempts that ended executions, from start to end.", Buckets: o.DurationBuckets}, []string{"job_type", "state"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "execution_queue_wait_seconds",
			Help: "Time from submit to the first attempt's start.", Buckets: o.DurationBuckets}, []string{"job_type"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "attempts_running",
			Help: "Attempts running in this process's workers."}, []string{"job_type"}),
		httpRequests: counter("http_requests_total", "HTTP requests by route, method and status.", "route", "method", "code"),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route and method.", Buckets: o.HTTPBuckets}, []string{"route", "method"}),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "scrape_errors_total",
			Help: "Scrapes whose reads from Redis failed (the values of the last good read were reported)."}),
		callbacks:   counter("callback_attempts_total", "Callback (result_url) delivery attempts this process made, by outcome: delivered, retry (failed, another is scheduled) or failed (given up).", "job_type", "outcome"),
		redisErrors: counter("redis_errors_total", "Failed Redis commands of this process's client, by class (refused, lost, closed, error) and command.", "class", "command"),
		heartbeatLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "heartbeat_lag_seconds",
			Help: "Age of the running attempts' last written heartbeat each time this process's worker writes the next one, or fails to.", Buckets: o.HeartbeatBuckets}),
		heartbeatFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "heartbeat_failures_total",
			Help: "Heartbeats of this process's worker that could not be written to Redis."}),
	}
	cs := []prometheus.Collector{m.submitted, m.finished, m.retried, m.lost, m.cancelled, m.relaunched, m.requeued,
		m.duration, m.queueWait, m.running, m.httpRequests, m.httpLatency, m.scrapeErrors,
		m.callbacks, m.redisErrors, m.heartbeatLag, m.heartbeatFailures,
		newStoredCollector(svc, ns, o.ScrapeCache, o.ScrapeTimeout, m.scrapeErrors)}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
		if private != nil {
			private.MustRegister(c)
		}
	}
	if r, ok := gatherer.(prometheus.Registerer); ok {
		m.handlerReg = r
	}
	m.unsubscribe = svc.Subscribe(m.observe)
	m.unsigns = svc.SubscribeSignals(m.signal)
	return m, nil
}

// Close stops counting the Service's state changes and signals. The
// collectors stay registered, with their values.
func (m *Metrics) Close() {
	m.unsubscribe()
	m.unsigns()
}

// signal counts one of the Service's signals (solvekit.SubscribeSignals).
func (m *Metrics) signal(sg solvekit.Signal) {
	switch sg.Kind {
	case solvekit.SignalCallback:
		m.callbacks.WithLabelValues(sg.JobType, sg.Outcome).Inc()
	case solvekit.SignalHeartbeat:
		m.heartbeatLag.Observe(seconds(sg.Duration))
		if sg.Outcome == solvekit.HeartbeatFailed {
			m.heartbeatFailures.Inc()
		}
	case solvekit.SignalRedisError:
		m.redisErrors.WithLabelValues(sg.Outcome, sg.Command).Inc()
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{Registry: m.handlerReg})
}

// observe counts one state change.
func (m *Metrics) observe(tr solvekit.Transition) {
	jt := tr.JobType
	switch tr.Reason {
	case "submit":
		m.submitted.WithLabelValues(jt).Inc()
		if tr.To == job.StateRunning { // a sync job runs at once, in this process
			m.running.WithLabelValues(jt).Inc()
		}
	case "start":
		m.running.WithLabelValues(jt).Inc()
		if tr.Attempt == 1 && !tr.CreatedAt.IsZero() {
			queued := tr.CreatedAt
			if tr.RunAt != nil && tr.RunAt.After(queued) {
				queued = *tr.RunAt // scheduled until then: not waiting in a queue
			}
			m.queueWait.WithLabelValues(jt).Observe(seconds(tr.At.Sub(queued)))
		}
	case "finish":
		m.running.WithLabelValues(jt).Dec()
		m.finished.WithLabelValues(jt, string(tr.To), string(tr.SolverStatus)).Inc()
		if tr.StartedAt != nil {
			m.duration.WithLabelValues(jt, string(tr.To)).Observe(seconds(tr.At.Sub(*tr.StartedAt)))
		}
	case "retry":
		m.running.WithLabelValues(jt).Dec()
		m.retried.WithLabelValues(jt).Inc()
	case "shutdown":
		m.running.WithLabelValues(jt).Dec()
		m.requeued.WithLabelValues(jt).Inc()
	case "lost":
		m.lost.WithLabelValues(jt).Inc()
		if tr.To.Terminal() {
			m.finished.WithLabelValues(jt, string(tr.To), string(tr.SolverStatus)).Inc()
		}
	case "cancel":
		m.cancelled.WithLabelValues(jt).Inc()
	case "relaunch":
		m.relaunched.WithLabelValues(jt).Inc()
	}
}

func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }

// Middleware counts and times the HTTP requests next serves, labelled by
// the route pattern the standard ServeMux matched (Request.Pattern, as
// httpapi's routes set it: "GET /executions/{id}"), "unmatched" when none
// did. Wrap the handler whose mux does the routing, inside any
// http.StripPrefix (StripPrefix passes a copy of the request on, whose
// pattern the outer middleware would not see).
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpstatus.New(w)
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.httpRequests.WithLabelValues(route, r.Method, strconv.Itoa(sw.Status)).Inc()
		m.httpLatency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

// storedCollector reports what Redis holds for every process: executions
// by state, and queue sizes and latency, read at scrape through a cache.
type storedCollector struct {
	svc            *solvekit.Service
	cache, timeout time.Duration
	errors         prometheus.Counter

	executions, queueSize, queueLatency, queuePaused *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts map[job.State]int64
	queues []*solvekit.QueueInfo
}

func newStoredCollector(svc *solvekit.Service, ns string, cache, timeout time.Duration, errs prometheus.Counter) *storedCollector {
	return &storedCollector{svc: svc, cache: cache, timeout: timeout, errors: errs,
		executions:   prometheus.NewDesc(ns+"_executions", "Stored executions by state (all processes).", []string{"state"}, nil),
		queueSize:    prometheus.NewDesc(ns+"_queue_tasks", "Tasks in a queue by task state (all processes).", []string{"queue", "state"}, nil),
		queueLatency: prometheus.NewDesc(ns+"_queue_latency_seconds", "How long the oldest pending task of a queue has waited.", []string{"queue"}, nil),
		queuePaused:  prometheus.NewDesc(ns+"_queue_paused", "1 when a queue is paused.", []string{"queue"}, nil),
	}
}

func (c *storedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.executions
	ch <- c.queueSize
	ch <- c.queueLatency
	ch <- c.queuePaused
}

func (c *storedCollector) Collect(ch chan<- prometheus.Metric) {
	counts, queues := c.read()
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.executions, prometheus.GaugeValue, float64(n), string(st))
	}
	for _, q := range queues {
		for _, s := range []struct {
			state string
			n     int
		}{{"pending", q.Pending}, {"active", q.Active}, {"scheduled", q.Scheduled}, {"retry", q.Retry},
			{"archived", q.Archived}, {"completed", q.Completed}} {
			ch <- prometheus.MustNewConstMetric(c.queueSize, prometheus.GaugeValue, float64(s.n), q.Name, s.state)
		}
		ch <- prometheus.MustNewConstMetric(c.queueLatency, prometheus.GaugeValue, q.Latency.Seconds(), q.Name)
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.queuePaused, prometheus.GaugeValue, paused, q.Name)
	}
}

// read returns the cached values, reading them again when older than the
// cache. A failed read keeps the last good values and counts an error.
func (c *storedCollector) read() (map[job.State]int64, []*solvekit.QueueInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.cache {
		return c.counts, c.queues
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err1 := c.svc.Counts(ctx)
	queues, err2 := c.svc.Queues(ctx)
	if err1 != nil || err2 != nil {
		c.errors.Inc()
	}
	if err1 == nil {
		c.counts = counts
	}
	if err2 == nil {
		c.queues = queues
	}
	c.at = time.Now()
	return c.counts, c.queues
}
