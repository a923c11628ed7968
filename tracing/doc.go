// Package tracing traces a solvekit Service with OpenTelemetry: a span per
// REST request (HTTP), per call that creates or restarts work (CallHook:
// Submit, SubmitMany, Relaunch), per attempt (Middleware) and for the
// queue wait before the first attempt, in one trace across processes. The
// trace context crosses from the submitter to the worker in the
// execution's record (solvekit.WithTraceParent, job.Context.TraceParent),
// so the root package does not depend on OpenTelemetry; tracing is
// opt-in.
//
//	tr := tracing.New(tracing.Options{TracerProvider: tp})
//	svc, err := solvekit.New(ctx, solvekit.Config{
//		RedisURL:   url,
//		Middleware: []job.Middleware{tr.Middleware},
//		CallHooks:  []solvekit.CallHook{tr.CallHook},
//	})
//	h, err := httpapi.New(svc, httpapi.Options{...})
//	http.ListenAndServe(addr, tr.HTTP(h))
package tracing
