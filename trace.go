package solvekit

import (
	"context"
	"sync"

	"github.com/solvekit/solvekit/job"
)

// traceParentKey is the context key of WithTraceParent.
type traceParentKey struct{}

// WithTraceParent returns ctx carrying a W3C traceparent header value
// ("00-<trace id>-<span id>-<flags>"): an execution submitted with it
// (Submit, SubmitOnce, SubmitMany) stores it in its record, a Relaunch
// with it stores it in place of the one there, and every attempt's
// job.Context.TraceParent hands it back, in whatever process runs the
// attempt. That is how a trace crosses from the submitter to the
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

// CallHook observes a Service call that creates or restarts work, so that
// a tracer can give it a span without the root package knowing
// OpenTelemetry (package tracing's Tracer.CallHook is one; put it in
// Config.CallHooks). It is called when the call starts, with the caller's
// ctx, and returns the ctx the call goes on with and a func that the call
// calls once, with its result, when it returns. A tracer starts its span
// in the returned ctx and puts the span's traceparent there
// (WithTraceParent): the executions the call stores keep it, so their
// attempts, in whatever process, are children of that span. end may be
// nil.
//
// The calls are Submit (and SubmitOnce, the REST API's POST /executions, a
// periodic schedule's firing), each SubmitMany batch, and Relaunch. A
// sync job runs inside its submit, so its attempt is within the call.
type CallHook func(ctx context.Context, c Call) (context.Context, func(CallResult))

// Call describes the call a CallHook observes.
type Call struct {
	// Op is "submit", "submit_many" or "relaunch".
	Op string
	// JobType is the requested job type (submit); "" for the others (see
	// CallResult.Executions).
	JobType string
	// ID is the execution relaunched (relaunch), or the id the caller
	// chose (submit with SubmitRequest.ID); "" otherwise.
	ID string
	// Count is how many executions a submit_many batch asks for (1 for
	// the others).
	Count int
}

// CallResult is the outcome of a call a CallHook observed.
type CallResult struct {
	// Executions are the executions the call stored or relaunched, in
	// the order of the requests (empty when it failed; a submit with an
	// unknown outcome, job.ErrOutcomeUnknown, names the one it sent).
	Executions []*job.Execution
	// Err is the call's error.
	Err error
	// Replayed is set on a submit whose IdempotencyKey had been used: it
	// returned the earlier execution and stored nothing.
	Replayed bool
}

// startCall runs Config.CallHooks for call c, the first outermost, and
// returns the ctx the call goes on with and the func that ends it (nil
// when there are no hooks).
func (s *Service) startCall(ctx context.Context, c Call) (context.Context, func(CallResult)) {
	hooks := s.cfg.CallHooks
	if len(hooks) == 0 {
		return ctx, nil
	}
	if c.Count == 0 {
		c.Count = 1
	}
	ends := make([]func(CallResult), 0, len(hooks))
	for _, h := range hooks {
		var end func(CallResult)
		ctx, end = h(ctx, c)
		if end != nil {
			ends = append(ends, end)
		}
	}
	var once sync.Once
	return ctx, func(r CallResult) {
		once.Do(func() {
			for i := len(ends) - 1; i >= 0; i-- {
				ends[i](r)
			}
		})
	}
}

// endCall calls end, when there is one, with the result of a call about
// one execution.
func endCall(end func(CallResult), e *job.Execution, err error, replayed bool) {
	if end == nil {
		return
	}
	r := CallResult{Err: err, Replayed: replayed}
	if e != nil {
		r.Executions = []*job.Execution{e}
	}
	end(r)
}
