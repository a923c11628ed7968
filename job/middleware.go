package job

// Middleware wraps a job's Func: it returns a Func that runs code before
// and after calling next (or instead of it). The job Context passed to the
// Func (jc) names the execution, attempt, job type and solver and carries
// the execution's logger, so a middleware can time, trace, label metrics or
// log every attempt without touching the job bodies:
//
//	timing := func(next job.Func) job.Func {
//		return func(ctx context.Context, jc *job.Context) (any, error) {
//			start := time.Now()
//			v, err := next(ctx, jc)
//			metrics.Observe(jc.JobType, time.Since(start), err)
//			return v, err
//		}
//	}
//
// Configure middleware on the Service (solvekit.Config.Middleware); it
// applies to every job type, sync and async, typed and untyped (for a
// typed job, next decodes the instance). A panic in a middleware is
// recovered and fails the attempt like a panic in the job.
type Middleware func(next Func) Func

// Chain wraps fn in mw, the first one outermost: Chain(fn, a, b) runs a,
// which calls b, which calls fn. Nil middlewares are skipped.
func Chain(fn Func, mw ...Middleware) Func {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			fn = mw[i](fn)
		}
	}
	return fn
}
