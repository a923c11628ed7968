package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/tracing"
)

// otelNote is the help text's line about the OpenTelemetry variables.
const otelNote = "OTEL_EXPORTER_OTLP_ENDPOINT traces to this OTLP/HTTP collector when --otlp-endpoint is not set\n" +
	"                           (and the other OTEL_* variables of the OpenTelemetry SDK)"

// traceExport is how serve and work export traces: off unless
// --otlp-endpoint (SOLVEKIT_OTLP_ENDPOINT) or the OpenTelemetry standard
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off. Spans go
// to an OTLP/HTTP (protobuf) collector in batches; the other OTEL_EXPORTER_OTLP_*
// variables (headers, timeout, compression, TLS certificates) and
// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES apply as the OpenTelemetry
// SDK defines them.
type traceExport struct {
	provider *sdktrace.TracerProvider
	tracer   *tracing.Tracer
}

// startTracing sets up trace export from endpoint (the flag's value) and
// the environment, or returns nil when tracing is off.
func (a *app) startTracing(ctx context.Context, endpoint string, logger *slog.Logger) (*traceExport, error) {
	if strings.EqualFold(a.getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(a.getenv("OTEL_TRACES_EXPORTER"), "none") {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	switch {
	case endpoint != "":
		// The OTEL_EXPORTER_OTLP_ENDPOINT convention: a base URL, to
		// which the traces path is appended.
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("--otlp-endpoint %q: want an http:// or https:// URL", endpoint)}
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	case a.getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && a.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "":
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "solvekit"), attribute.String("service.version", solvekit.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		logger.Warn("solvekit: trace resource incomplete", "err", err) // a partial resource is still usable
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &traceExport{provider: tp, tracer: tracing.New(tracing.Options{TracerProvider: tp})}, nil
}

// configure adds the tracer's attempt middleware and call hook to cfg.
func (t *traceExport) configure(cfg *solvekit.Config) {
	if t == nil {
		return
	}
	cfg.Middleware = append(cfg.Middleware, job.Middleware(t.tracer.Middleware))
	cfg.CallHooks = append(cfg.CallHooks, t.tracer.CallHook)
}

// shutdown sends the spans still buffered, within timeout.
func (t *traceExport) shutdown(timeout time.Duration, logger *slog.Logger) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		logger.Warn("solvekit: sending the last spans failed", "err", err)
	}
}
