package solvekit

import "context"

// traceParentKey is the context key of WithTraceParent.
type traceParentKey struct{}

// WithTraceParent returns ctx carrying a W3C traceparent header value
// ("00-<trace id>-<span id>-<flags>"): an execution submitted with it
// (Submit, SubmitOnce, SubmitMany) stores it in its record, and every
// attempt's job.Context.TraceParent hands it back, in whatever process
// runs the attempt. That is how a trace crosses from the submitter to the
// worker without the root package knowing OpenTelemetry: the tracing
// package sets it from the current span (tracing.HTTP, tracing.Inject) and
// reads it in its job middleware (tracing.Middleware). An empty tp leaves
// ctx as it is.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return context.WithValue(ctx, traceParentKey{}, tp)
}

// traceParent returns the traceparent WithTraceParent put in ctx, or "".
func traceParent(ctx context.Context) string {
	tp, _ := ctx.Value(traceParentKey{}).(string)
	return tp
}
