package tracing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
	"github.com/solvekit/solvekit/tracing"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestTraceAcrossServices: a POST /executions served through HTTP by
// Service A, which runs no worker, and the attempt run by Service B's
// worker on the same Redis form one trace: the request's span, the
// submit's span under it, and the attempt span and the queue-wait span
// children of the submit's, with the job's attributes; the job's own span
// nests under the attempt, and a failing attempt records its error.
func TestTraceAcrossServices(t *testing.T) {
	srv := redistest.Current(t)
	db := srv.DB(t)
	exp, tp, tr := newTracing(t)

	type seen struct{ traceID, spanID string }
	inJob := make(chan seen, 4)
	defs := func() []*job.Definition {
		return []*job.Definition{
			job.Async("ok", func(ctx context.Context, jc *job.Context) (any, error) {
				_, span := tp.Tracer("job").Start(ctx, "job work")
				span.End()
				jc.Logger.Info("working")
				sc := trace.SpanContextFromContext(ctx)
				inJob <- seen{sc.TraceID().String(), sc.SpanID().String()}
				return 1, nil
			}),
			job.Async("bad", func(ctx context.Context, jc *job.Context) (any, error) {
				return nil, job.Fail("no luck", nil)
			}),
		}
	}
	client := func() *redis.Client {
		c := redis.NewClient(srv.Options(db))
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := solvekittest.Start(t, solvekittest.Options{NoWorker: true, Config: solvekit.Config{Redis: client(),
		Middleware: []job.Middleware{tr.Middleware}, CallHooks: []solvekit.CallHook{tr.CallHook}}}, defs()...)
	b := solvekittest.Start(t, solvekittest.Options{NoWorker: true, Config: solvekit.Config{Redis: client(),
		Middleware: []job.Middleware{tr.Middleware}}}, defs()...)

	admin := httpapi.AuthenticatorFunc(func(*http.Request) (*httpapi.Principal, error) {
		return &httpapi.Principal{ID: "host-admin", Role: api.RoleAdmin, Source: "host"}, nil
	})
	h, err := httpapi.New(a, httpapi.Options{Authenticator: admin, DisableBuiltinAuth: true})
	require.NoError(t, err)
	h = tr.HTTP(h)

	post := func(jobType string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/executions",
			strings.NewReader(`{"job_type":"`+jobType+`","instance":{}}`)))
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		var e struct{ ID string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
		require.NotEmpty(t, e.ID)
		return e.ID
	}
	okID, badID := post("ok"), post("bad")

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Work(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	solvekittest.WaitState(t, b, okID, job.StateSucceeded, patience.Scale(30*time.Second))
	solvekittest.WaitState(t, b, badID, job.StateFailed, patience.Scale(30*time.Second))
	js := <-inJob

	byName := func(name, id string) tracetest.SpanStub {
		t.Helper()
		var found tracetest.SpanStub
		require.Eventually(t, func() bool {
			for _, s := range exp.GetSpans() {
				if s.Name != name {
					continue
				}
				if id == "" || attrOf(s, "solvekit.execution_id") == id {
					found = s
					return true
				}
			}
			return false
		}, patience.Scale(10*time.Second), 10*time.Millisecond, "no span %q for %q", name, id)
		return found
	}
	// The request spans, named by route; one of them submitted okID.
	var httpSpans []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "POST /executions" {
			httpSpans = append(httpSpans, s)
		}
	}
	require.Len(t, httpSpans, 2)
	for _, s := range httpSpans {
		require.Equal(t, trace.SpanKindServer, s.SpanKind)
		require.Equal(t, "201", attrOf(s, "http.response.status_code"))
	}

	for _, c := range []struct {
		id, jobType, state string
		http               tracetest.SpanStub
	}{{okID, "ok", "succeeded", httpSpans[0]}, {badID, "bad", "failed", httpSpans[1]}} {
		sub := byName("solvekit.submit "+c.jobType, c.id)
		require.Equal(t, c.http.SpanContext.TraceID(), sub.SpanContext.TraceID(), "submit in the request's trace")
		require.Equal(t, c.http.SpanContext.SpanID(), sub.Parent.SpanID(), "submit a child of the request")
		require.Equal(t, trace.SpanKindProducer, sub.SpanKind)
		require.Equal(t, c.jobType, attrOf(sub, "solvekit.job_type"))
		require.Equal(t, "queued", attrOf(sub, "solvekit.state"))
		require.Equal(t, codes.Unset, sub.Status.Code)

		att := byName("solvekit.attempt "+c.jobType, c.id)
		require.Equal(t, c.http.SpanContext.TraceID(), att.SpanContext.TraceID(), "attempt in the request's trace")
		require.Equal(t, sub.SpanContext.SpanID(), att.Parent.SpanID(), "attempt a child of the submit")
		require.True(t, att.Parent.IsRemote())
		require.Equal(t, c.jobType, attrOf(att, "solvekit.job_type"))
		require.Equal(t, "1", attrOf(att, "solvekit.attempt"))
		require.Equal(t, c.state, attrOf(att, "solvekit.state"))
		require.Equal(t, trace.SpanKindConsumer, att.SpanKind)

		wait := byName("solvekit.queue_wait", c.id)
		require.Equal(t, sub.SpanContext.SpanID(), wait.Parent.SpanID())
		require.False(t, wait.EndTime.Before(wait.StartTime))
		require.False(t, wait.StartTime.After(att.StartTime))
		if c.state == "failed" {
			require.Equal(t, codes.Error, att.Status.Code)
			require.Contains(t, att.Status.Description, "no luck")
			require.NotEmpty(t, att.Events, "the error is recorded")
		} else {
			require.Equal(t, codes.Unset, att.Status.Code)
			work := byName("job work", "")
			require.Equal(t, att.SpanContext.SpanID(), work.Parent.SpanID(), "the job's span nests under the attempt")
			require.Equal(t, att.SpanContext.TraceID().String(), js.traceID)
			require.Equal(t, att.SpanContext.SpanID().String(), js.spanID)
			// The job's log record carries the attempt span's ids.
			var logged job.LogRecord
			require.Eventually(t, func() bool {
				recs, err := b.Logs(context.Background(), okID, "", 100)
				require.NoError(t, err)
				for _, r := range recs {
					if r.Message == "working" {
						logged = r
						return true
					}
				}
				return false
			}, patience.Scale(10*time.Second), 10*time.Millisecond)
			require.Equal(t, js.traceID, logged.Attrs["trace_id"])
			require.Equal(t, js.spanID, logged.Attrs["span_id"])
		}
	}
}

// TestHTTPContinuesIncomingTrace: a request that carries a traceparent
// header gets its span in that trace, as the header's span's child.
func TestHTTPContinuesIncomingTrace(t *testing.T) {
	exp, _, tr := newTracing(t)
	mux := http.NewServeMux()
	var tpInCtx bool
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		tpInCtx = trace.SpanContextFromContext(r.Context()).IsValid()
		w.WriteHeader(http.StatusTeapot)
	})
	req := httptest.NewRequest("GET", "/things/7", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	tr.HTTP(mux).ServeHTTP(httptest.NewRecorder(), req)
	spans := exp.GetSpans()
	require.Len(t, spans, 1)
	s := spans[0]
	require.Equal(t, "GET /things/{id}", s.Name)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext.TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", s.Parent.SpanID().String())
	require.Equal(t, "418", attrOf(s, "http.response.status_code"))
	require.True(t, tpInCtx)
}

// newTracing returns a Tracing exporting to an in-memory exporter through
// a tracer provider that is shut down when t ends.
func newTracing(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider, *tracing.Tracer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return exp, tp, tracing.New(tracing.Options{TracerProvider: tp})
}

// tracedService starts a Service (with a worker) configured by cfg on a
// fresh database of the package's redis-server.
func tracedService(t *testing.T, cfg solvekit.Config, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	srv := redistest.Current(t)
	rdb := redis.NewClient(srv.Options(srv.DB(t)))
	t.Cleanup(func() { rdb.Close() })
	cfg.Redis = rdb
	return solvekittest.Start(t, solvekittest.Options{Config: cfg}, defs...)
}

// attrOf returns the value of span s's attribute k as a string, "" when
// absent.
func attrOf(s tracetest.SpanStub, k string) string {
	for _, a := range s.Attributes {
		if a.Key == attribute.Key(k) {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTraceOfScheduledRetriedExecution: an execution submitted from the
// caller's own span (Inject) to run later has its queue wait start when it
// was due, not at the submit; a failed attempt with retries left and the
// retry each get an attempt span under the caller's span, and only the
// first has a queue wait.
func TestTraceOfScheduledRetriedExecution(t *testing.T) {
	exp, tp, tr := newTracing(t)
	svc := tracedService(t, solvekit.Config{Middleware: []job.Middleware{tr.Middleware},
		RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }},
		job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
			if jc.Attempt == 1 {
				return nil, errors.New("flake")
			}
			return 1, nil
		}, job.WithMaxRetries(1)))

	ctx, parent := tp.Tracer("caller").Start(context.Background(), "caller")
	e, err := svc.Submit(tracing.Inject(ctx), solvekit.SubmitRequest{JobType: "flaky", Instance: json.RawMessage(`{}`),
		RunIn: 300 * time.Millisecond})
	parent.End()
	require.NoError(t, err)
	require.NotNil(t, e.RunAt)
	solvekittest.WaitState(t, svc, e.ID, job.StateSucceeded, patience.Scale(30*time.Second))

	var attempts, waits []tracetest.SpanStub
	require.Eventually(t, func() bool {
		attempts, waits = nil, nil
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case "solvekit.attempt flaky":
				attempts = append(attempts, s)
			case "solvekit.queue_wait":
				waits = append(waits, s)
			}
		}
		return len(attempts) == 2
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Len(t, waits, 1)
	require.False(t, waits[0].StartTime.Before(e.RunAt.Truncate(time.Millisecond)), "the wait starts when it was due")
	require.Equal(t, parent.SpanContext().SpanID(), waits[0].Parent.SpanID())
	for i, s := range attempts {
		require.Equal(t, parent.SpanContext().TraceID(), s.SpanContext.TraceID())
		require.Equal(t, parent.SpanContext().SpanID(), s.Parent.SpanID())
		require.Equal(t, []string{"1", "2"}[i], attrOf(s, "solvekit.attempt"))
		require.Equal(t, []string{"failed", "succeeded"}[i], attrOf(s, "solvekit.state"))
	}
	require.Equal(t, codes.Error, attempts[0].Status.Code)
}

// TestRelaunchJoinsCallerTrace: with CallHook, a Submit from the caller's
// span and a Relaunch from another span, both through Service A, with the
// attempts run by Service B on the same Redis: each attempt is a child of
// the call that queued it, the relaunch's in the relauncher's trace; a
// relaunch from a ctx without a span gets a root span of its own. A
// refused submit's span records the error. A sync job's attempt nests
// under its submit's span.
func TestRelaunchJoinsCallerTrace(t *testing.T) {
	srv := redistest.Current(t)
	db := srv.DB(t)
	exp, tp, tr := newTracing(t)
	defs := func() []*job.Definition {
		return []*job.Definition{
			job.Async("ok", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil }),
			job.Sync("now", func(ctx context.Context, jc *job.Context) (any, error) { return 2, nil }),
		}
	}
	start := func(worker bool) *solvekit.Service {
		c := redis.NewClient(srv.Options(db))
		t.Cleanup(func() { c.Close() })
		return solvekittest.Start(t, solvekittest.Options{NoWorker: !worker, Config: solvekit.Config{Redis: c,
			Middleware: []job.Middleware{tr.Middleware}, CallHooks: []solvekit.CallHook{tr.CallHook}}}, defs()...)
	}
	a, b := start(false), start(true)
	caller := tp.Tracer("caller")
	ctx := context.Background()

	sctx, submitter := caller.Start(ctx, "submitter")
	e, err := a.Submit(sctx, solvekit.SubmitRequest{JobType: "ok", Instance: json.RawMessage(`{}`)})
	submitter.End()
	require.NoError(t, err)
	solvekittest.WaitState(t, b, e.ID, job.StateSucceeded, patience.Scale(30*time.Second))

	rctx, relauncher := caller.Start(ctx, "relauncher")
	_, err = a.Relaunch(rctx, e.ID, solvekit.RelaunchRequest{})
	relauncher.End()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.Get(ctx, e.ID)
		return err == nil && got.Attempt == 2 && got.State == job.StateSucceeded
	}, patience.Scale(30*time.Second), 10*time.Millisecond)
	_, err = a.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{}) // no caller span: the relaunch span is a root
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.Get(ctx, e.ID)
		return err == nil && got.Attempt == 3 && got.State == job.StateSucceeded
	}, patience.Scale(30*time.Second), 10*time.Millisecond)

	_, err = a.Submit(ctx, solvekit.SubmitRequest{JobType: "nope", Instance: json.RawMessage(`{}`)})
	require.Error(t, err)
	_, err = a.Submit(ctx, solvekit.SubmitRequest{JobType: "now", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)

	var spans []tracetest.SpanStub
	find := func(name string, attempt string) (tracetest.SpanStub, bool) {
		for _, s := range spans {
			if s.Name == name && (attempt == "" || attrOf(s, "solvekit.attempt") == attempt) {
				return s, true
			}
		}
		return tracetest.SpanStub{}, false
	}
	require.Eventually(t, func() bool {
		spans = exp.GetSpans()
		_, ok := find("solvekit.attempt ok", "3")
		return ok
	}, patience.Scale(10*time.Second), 10*time.Millisecond)

	sub, ok := find("solvekit.submit ok", "")
	require.True(t, ok)
	require.Equal(t, submitter.SpanContext().SpanID(), sub.Parent.SpanID())
	require.Equal(t, e.ID, attrOf(sub, "solvekit.execution_id"))
	att1, _ := find("solvekit.attempt ok", "1")
	require.Equal(t, sub.SpanContext.SpanID(), att1.Parent.SpanID())

	rel, ok := find("solvekit.relaunch ok", "2")
	require.True(t, ok, "the relaunch span, named by the job type it found")
	require.Equal(t, relauncher.SpanContext().TraceID(), rel.SpanContext.TraceID())
	require.Equal(t, relauncher.SpanContext().SpanID(), rel.Parent.SpanID())
	require.Equal(t, "queued", attrOf(rel, "solvekit.state"))
	att2, _ := find("solvekit.attempt ok", "2")
	require.Equal(t, rel.SpanContext.TraceID(), att2.SpanContext.TraceID(), "the relaunch's attempt in the relauncher's trace")
	require.Equal(t, rel.SpanContext.SpanID(), att2.Parent.SpanID())

	rel3, ok := find("solvekit.relaunch ok", "3")
	require.True(t, ok)
	require.False(t, rel3.Parent.IsValid(), "a relaunch without a caller's span is a root span")
	att3, _ := find("solvekit.attempt ok", "3")
	require.Equal(t, rel3.SpanContext.SpanID(), att3.Parent.SpanID())

	bad, ok := find("solvekit.submit nope", "")
	require.True(t, ok)
	require.Equal(t, codes.Error, bad.Status.Code)
	require.NotEmpty(t, bad.Events, "the error is recorded")

	syncSub, ok := find("solvekit.submit now", "")
	require.True(t, ok)
	require.Equal(t, "succeeded", attrOf(syncSub, "solvekit.state"))
	syncAtt, ok := find("solvekit.attempt now", "")
	require.True(t, ok)
	require.Equal(t, syncSub.SpanContext.SpanID(), syncAtt.Parent.SpanID(), "a sync job's attempt runs inside its submit")
	require.False(t, syncAtt.Parent.IsRemote())
}

// TestSubmitManySpanNamesItsExecutions: a SubmitMany batch's span carries
// its size and the ids of the executions it stored, in request order, and
// their attempts are its children.
func TestSubmitManySpanNamesItsExecutions(t *testing.T) {
	exp, _, tr := newTracing(t)
	svc := tracedService(t, solvekit.Config{Middleware: []job.Middleware{tr.Middleware}, CallHooks: []solvekit.CallHook{tr.CallHook}},
		job.Async("ok", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil }))
	ctx := context.Background()
	reqs := make([]solvekit.SubmitRequest, 3)
	for i := range reqs {
		reqs[i] = solvekit.SubmitRequest{JobType: "ok", Instance: json.RawMessage(`{}`)}
	}
	es, err := svc.SubmitMany(ctx, reqs)
	require.NoError(t, err)
	for _, e := range es {
		solvekittest.WaitState(t, svc, e.ID, job.StateSucceeded, patience.Scale(30*time.Second))
	}
	var batch tracetest.SpanStub
	var attempts []tracetest.SpanStub
	require.Eventually(t, func() bool {
		attempts = nil
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case "solvekit.submit_many":
				batch = s
			case "solvekit.attempt ok":
				attempts = append(attempts, s)
			}
		}
		return batch.Name != "" && len(attempts) == 3
	}, patience.Scale(10*time.Second), 10*time.Millisecond)
	require.Equal(t, "3", attrOf(batch, "solvekit.batch_size"))
	require.Equal(t, fmt.Sprintf("[%q,%q,%q]", es[0].ID, es[1].ID, es[2].ID), attrOf(batch, "solvekit.execution_ids"))
	for _, a := range attempts {
		require.Equal(t, batch.SpanContext.SpanID(), a.Parent.SpanID())
	}
}
