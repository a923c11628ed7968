package tracing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/tracing"
)

// Trace a Service's attempts, as children of the span that submitted them.
func Example() {
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter() // in production: an OTLP exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)
	tr := tracing.New(tracing.Options{TracerProvider: tp})

	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: slog.New(slog.DiscardHandler),
		Middleware: []job.Middleware{tr.Middleware}})
	defer svc.Close()
	_ = svc.Register(job.Sync("double", func(ctx context.Context, jc *job.Context) (any, error) { return 2, nil }))

	ctx, span := tp.Tracer("planner").Start(ctx, "plan the week")
	_, _ = svc.Submit(tracing.Inject(ctx), solvekit.SubmitRequest{JobType: "double", Instance: json.RawMessage(`{}`)})
	span.End()

	spans := exp.GetSpans()
	for _, s := range spans {
		fmt.Println(s.Name, s.SpanContext.TraceID() == spans[len(spans)-1].SpanContext.TraceID())
	}
	fmt.Println(spans[0].Parent.SpanID() == span.SpanContext().SpanID())
	// Output:
	// solvekit.attempt double true
	// plan the week true
	// true
}
