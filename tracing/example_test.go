package tracing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/tracing"
)

// Trace a Service's submits and attempts, as children of the caller's span.
func Example() {
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter() // in production: an OTLP exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)
	tr := tracing.New(tracing.Options{TracerProvider: tp})

	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: slog.New(slog.DiscardHandler),
		Middleware: []job.Middleware{tr.Middleware}, CallHooks: []solvekit.CallHook{tr.CallHook}})
	defer svc.Close()
	_ = svc.Register(job.Sync("double", func(ctx context.Context, jc *job.Context) (any, error) { return 2, nil }))

	ctx, span := tp.Tracer("planner").Start(ctx, "plan the week")
	_, _ = svc.Submit(tracing.Inject(ctx), solvekit.SubmitRequest{JobType: "double", Instance: json.RawMessage(`{}`)})
	span.End()

	// Each span's name, whether it is in the caller's trace, and its
	// parent's name.
	spans := exp.GetSpans()
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID()] = s.Name
	}
	for _, s := range spans {
		fmt.Printf("%s, same trace: %t, parent: %q\n", s.Name, s.SpanContext.TraceID() == span.SpanContext().TraceID(),
			names[s.Parent.SpanID()])
	}
	// Output:
	// solvekit.attempt double, same trace: true, parent: "solvekit.submit double"
	// solvekit.submit double, same trace: true, parent: "plan the week"
	// plan the week, same trace: true, parent: ""
}
