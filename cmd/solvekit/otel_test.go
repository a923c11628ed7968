package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// otlpReceiver is an OTLP/HTTP trace collector: it counts the export
// requests posted to /v1/traces and keeps their spans.
type otlpReceiver struct {
	mu       sync.Mutex
	requests int
	spans    []receivedSpan
	srv      *httptest.Server
}

// receivedSpan is one exported span: its name, ids and the service that
// sent it.
type receivedSpan struct {
	name, service, traceID, spanID, parentID string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
			http.NotFound(w, req)
			return
		}
		b, _ := io.ReadAll(req.Body)
		var msg coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		for _, rs := range msg.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, receivedSpan{name: s.Name, service: service, traceID: hex.EncodeToString(s.TraceId),
						spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId)})
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) got() (int, []receivedSpan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, append([]receivedSpan(nil), r.spans...)
}

// TestServeAndWorkExportTraces: serve with --otlp-endpoint and work with
// OTEL_EXPORTER_OTLP_ENDPOINT export their spans to an OTLP collector,
// the last ones when they stop (the batches are not due before), and an
// execution submitted through serve's API and run by the work process is
// one trace: request, submit, queue wait and attempt. Without either
// setting, nothing is exported.
func TestServeAndWorkExportTraces(t *testing.T) {
	rcv := newOTLPReceiver(t)
	srv := redistest.Current(t)
	o := srv.Options(srv.DB(t))
	url := fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)
	if o.Network == "unix" {
		url = fmt.Sprintf("unix://%s?db=%d", o.Addr, o.DB)
	}
	env := baseEnv("SOLVEKIT_REDIS_URL="+url, "SOLVEKIT_JWT_SECRET="+testSecret, "SOLVEKIT_ADMIN_PASSWORD=admin-password-1",
		"SOLVEKIT_SHUTDOWN_TIMEOUT=20s", "SOLVEKIT_LOG_LEVEL=warn", "OTEL_SERVICE_NAME=", "OTEL_SDK_DISABLED=",
		"OTEL_TRACES_EXPORTER=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=")
	server := startProcess(t, append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="), "serve", "--addr", "127.0.0.1:0", "--otlp-endpoint", rcv.srv.URL)
	serving := server.line(t, "solvekit "+solvekit.Version+" serving ")
	base := strings.Fields(strings.TrimPrefix(serving, "solvekit "+solvekit.Version+" serving "))[0]
	worker := startProcess(t, append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.srv.URL, "OTEL_SERVICE_NAME=solvekit-worker"),
		"work", "--concurrency", "2")
	worker.line(t, "solvekit "+solvekit.Version+" worker ")

	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(time.Minute))
	defer cancel()
	tok, err := client.New(base).Login(ctx, "admin", "admin-password-1")
	require.NoError(t, err)
	r := runBin(t, baseEnv("SOLVEKIT_SERVER="+base, "SOLVEKIT_TOKEN="+tok.Token, "SOLVEKIT_CONFIG="+filepath.Join(t.TempDir(), "none.json")),
		`{"traced":true}`, "submit", "echo", "--wait", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	e := decode[api.Execution](t, r.stdout)
	require.Equal(t, job.StateSucceeded, e.State)

	server.stop(t)
	worker.stop(t)
	requests, spans := rcv.got()
	require.Positive(t, requests, "the spans were sent at exit")
	find := func(name, service string) receivedSpan {
		t.Helper()
		for _, s := range spans {
			if s.name == name && s.service == service {
				return s
			}
		}
		t.Fatalf("no span %q from %q in %+v", name, service, spans)
		return receivedSpan{}
	}
	post := find("POST /executions", "solvekit")
	sub := find("solvekit.submit echo", "solvekit")
	wait := find("solvekit.queue_wait", "solvekit-worker")
	att := find("solvekit.attempt echo", "solvekit-worker")
	for _, s := range []receivedSpan{sub, wait, att} {
		require.Equal(t, post.traceID, s.traceID, "%s in the request's trace", s.name)
	}
	require.Equal(t, post.spanID, sub.parentID)
	require.Equal(t, sub.spanID, wait.parentID)
	require.Equal(t, sub.spanID, att.parentID)

	// Tracing is off by default.
	quiet := newOTLPReceiver(t)
	p := startProcess(t, baseEnv("SOLVEKIT_LOG_LEVEL=warn", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="),
		"serve", "--addr", "127.0.0.1:0")
	p.line(t, "export SOLVEKIT_SERVER=")
	p.stop(t)
	n, _ := quiet.got()
	require.Zero(t, n)
}
