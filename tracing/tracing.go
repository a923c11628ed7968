package tracing

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/httpstatus"
	"github.com/solvekit/solvekit/job"
)

// ScopeName is the instrumentation scope of the tracer the spans come from.
const ScopeName = "github.com/solvekit/solvekit/tracing"

// Attribute keys set on the submit, attempt and queue-wait spans.
const (
	AttrJobType     = attribute.Key("solvekit.job_type")
	AttrExecutionID = attribute.Key("solvekit.execution_id")
	AttrAttempt     = attribute.Key("solvekit.attempt")
	// AttrState is, on an attempt span, the end the attempt's return
	// makes of it: succeeded, failed, stopped or timed_out (a failed
	// attempt with retries left is queued again: a new attempt, a new
	// span). On a submit or relaunch span it is the state the call left
	// the execution in: queued, scheduled, or a sync job's end.
	AttrState = attribute.Key("solvekit.state")
	// AttrReplayed is set on a submit span whose IdempotencyKey had been
	// used: it returned the earlier execution (which stays in the earlier
	// submit's trace).
	AttrReplayed = attribute.Key("solvekit.replayed")
	// AttrBatchSize is how many executions a submit_many span's batch
	// asked for.
	AttrBatchSize = attribute.Key("solvekit.batch_size")
	// AttrExecutionIDs is, on a submit_many span, the ids of the
	// executions the batch stored, in request order (at most
	// MaxBatchIDs of them; AttrBatchSize says how many there were).
	AttrExecutionIDs = attribute.Key("solvekit.execution_ids")
)

// MaxBatchIDs bounds the ids a submit_many span lists (AttrExecutionIDs),
// so that a large batch does not make a span too large to export.
const MaxBatchIDs = 100

// Options configure the tracing. The zero value uses the global
// TracerProvider and W3C Trace Context propagation.
type Options struct {
	// TracerProvider makes the spans. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context of incoming HTTP requests.
	// Default propagation.TraceContext{} (the traceparent header). What
	// executions store is always a W3C traceparent.
	Propagator propagation.TextMapPropagator
}

// Tracer makes the spans of a Service and its REST API.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// w3c writes and reads the traceparent stored with an execution.
var w3c = propagation.TraceContext{}

// New returns a Tracer with o's provider.
func New(o Options) *Tracer {
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	return &Tracer{tracer: o.TracerProvider.Tracer(ScopeName), prop: o.Propagator}
}

// Inject returns ctx carrying its current span's traceparent for Submit
// (solvekit.WithTraceParent): the execution submitted with it joins that
// span's trace, its attempts children of that span wherever they run. ctx
// without a valid span is returned as it is. HTTP does this for the
// requests it serves; call Inject before submitting from your own code.
func Inject(ctx context.Context) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return solvekit.WithTraceParent(ctx, c.Get("traceparent"))
}

// Middleware is a job.Middleware (put it in solvekit.Config.Middleware)
// that wraps every attempt in a span, a child of the span that submitted
// the execution (the traceparent stored with it), with the job type,
// execution id, attempt and the attempt's end as attributes, and the error
// recorded. The job's ctx carries the span, so spans the job starts nest
// under it, and the job's Logger writes trace_id and span_id with every
// record. Before the first attempt of a queued execution it records a
// "solvekit.queue_wait" span from the submit (or the time a scheduled
// execution was due) to the start.
func (t *Tracer) Middleware(next job.Func) job.Func {
	return func(ctx context.Context, jc *job.Context) (any, error) {
		ctx = parentContext(ctx, jc.TraceParent)
		attrs := []attribute.KeyValue{AttrJobType.String(jc.JobType), AttrExecutionID.String(jc.ExecutionID),
			AttrAttempt.Int(jc.Attempt)}
		kind := trace.SpanKindInternal // a sync job runs inside its submit
		if !jc.QueuedAt.IsZero() {
			kind = trace.SpanKindConsumer
			if jc.Attempt == 1 {
				_, wait := t.tracer.Start(ctx, "solvekit.queue_wait", trace.WithTimestamp(jc.QueuedAt),
					trace.WithAttributes(attrs...))
				wait.End()
			}
		}
		ctx, span := t.tracer.Start(ctx, "solvekit.attempt "+jc.JobType, trace.WithSpanKind(kind),
			trace.WithAttributes(attrs...))
		defer span.End()
		if sc := span.SpanContext(); sc.IsValid() && jc.Logger != nil {
			jc.Logger = jc.Logger.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
		}
		out, err := next(ctx, jc)
		state := endOf(ctx, err)
		span.SetAttributes(AttrState.String(string(state)))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return out, err
	}
}

// CallHook is a solvekit.CallHook (put it in solvekit.Config.CallHooks)
// that wraps the calls that create or restart work in a span:
// "solvekit.submit <job type>" for a Submit (SubmitOnce, the REST API's
// POST /executions, a schedule's firing), "solvekit.submit_many" for a
// SubmitMany batch and "solvekit.relaunch" for a Relaunch, each a child of
// the span in the caller's ctx (a root span when there is none, as for a
// schedule's firing) with kind producer. The executions the call stores
// keep the span's traceparent, so their queue wait and attempts, in
// whatever process, are its children; a relaunch's attempts join the
// relaunch's trace. Attributes: the job type, the execution id and the
// state the call left it in (AttrState); a batch's size and its
// executions' ids (AttrBatchSize, AttrExecutionIDs); an error is recorded
// and sets status Error.
func (t *Tracer) CallHook(ctx context.Context, c solvekit.Call) (context.Context, func(solvekit.CallResult)) {
	name := "solvekit." + c.Op
	var attrs []attribute.KeyValue
	if c.JobType != "" {
		name += " " + c.JobType
		attrs = append(attrs, AttrJobType.String(c.JobType))
	}
	if c.ID != "" {
		attrs = append(attrs, AttrExecutionID.String(c.ID))
	}
	if c.Op == "submit_many" {
		attrs = append(attrs, AttrBatchSize.Int(c.Count))
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	return Inject(ctx), func(r solvekit.CallResult) {
		defer span.End()
		if len(r.Executions) == 1 && r.Executions[0] != nil {
			e := r.Executions[0]
			if c.JobType == "" {
				span.SetName(name + " " + e.JobType)
			}
			span.SetAttributes(AttrJobType.String(e.JobType), AttrExecutionID.String(e.ID), AttrAttempt.Int(e.Attempt))
			if r.Err == nil {
				span.SetAttributes(AttrState.String(string(e.State)))
			}
		}
		if c.Op == "submit_many" && len(r.Executions) > 0 {
			ids := make([]string, 0, min(len(r.Executions), MaxBatchIDs))
			for _, e := range r.Executions[:min(len(r.Executions), MaxBatchIDs)] {
				if e != nil {
					ids = append(ids, e.ID)
				}
			}
			span.SetAttributes(AttrExecutionIDs.StringSlice(ids))
		}
		if r.Replayed {
			span.SetAttributes(AttrReplayed.Bool(true))
		}
		if r.Err != nil {
			span.RecordError(r.Err)
			span.SetStatus(codes.Error, r.Err.Error())
		}
	}
}

// parentContext returns ctx with the span of traceparent tp as its parent,
// unless ctx already runs in tp's trace (a sync job, run inside the
// request that submitted it, keeps its live parent).
func parentContext(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	remote := trace.SpanContextFromContext(w3c.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp}))
	if !remote.IsValid() {
		return ctx
	}
	if cur := trace.SpanContextFromContext(ctx); cur.IsValid() && cur.TraceID() == remote.TraceID() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, remote)
}

// endOf tells how an attempt that returned err ended, as the runtime
// decides: its context's deadline is the time limit, a cancel a stop.
func endOf(ctx context.Context, err error) job.State {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return job.StateTimedOut
	case ctx.Err() != nil:
		return job.StateStopped
	case err != nil:
		return job.StateFailed
	}
	return job.StateSucceeded
}

// HTTP wraps next, the REST handler (httpapi.New), in a span per request,
// named by the route pattern the standard ServeMux matched
// (Request.Pattern, "POST /executions"), child of the trace context the
// request carries (the traceparent header). Executions the request
// submits store the span's traceparent, so their attempts join its trace.
// Wrap the handler whose mux does the routing, inside any
// http.StripPrefix, as prom.Metrics.Middleware.
func (t *Tracer) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := httpstatus.New(w)
		r = r.WithContext(Inject(ctx))
		next.ServeHTTP(sw, r)
		if r.Pattern != "" {
			span.SetName(r.Pattern)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", sw.Status))
		if sw.Status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.Status))
		}
	})
}
