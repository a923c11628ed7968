package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// process is a long-running solvekit process (serve, work).
type process struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *logtest.Buffer
	done   chan error
}

// startProcess starts the binary with args and reads its stdout lines.
func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := &process{cmd: cmd, lines: make(chan string, 100), stderr: &logtest.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return p
}

// line waits for a stdout line that starts with prefix and returns it.
func (p *process) line(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(patience.Scale(time.Minute))
	for {
		select {
		case l, ok := <-p.lines:
			require.True(t, ok, "the process ended before printing %q; stderr:\n%s", prefix, p.stderr)
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return strings.TrimSpace(l)
			}
		case <-timeout:
			t.Fatalf("no line %q; stderr:\n%s", prefix, p.stderr)
		}
	}
}

// stop sends SIGTERM and requires a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	go func() {
		for range p.lines { // drain, so that the process never blocks on stdout
		}
	}()
	select {
	case err := <-p.done:
		require.NoError(t, err, "exit after SIGTERM; stderr:\n%s", p.stderr)
	case <-time.After(patience.Scale(time.Minute)):
		t.Fatalf("still running after SIGTERM; stderr:\n%s", p.stderr)
	}
}

// baseEnv is the environment without SOLVEKIT_ variables.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOLVEKIT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// sharedRedisEnv is the environment of serve and work processes on a
// fresh database of the test Redis, with extra settings.
func sharedRedisEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	srv := redistest.Current(t)
	return baseEnv(append([]string{"SOLVEKIT_REDIS_URL=" + srv.URL(srv.DB(t)), "SOLVEKIT_JWT_SECRET=" + testSecret,
		"SOLVEKIT_ADMIN_PASSWORD=admin-password-1", "SOLVEKIT_SHUTDOWN_TIMEOUT=20s", "SOLVEKIT_LOG_LEVEL=warn"}, extra...)...)
}

// servingAt waits for a serve process's banner and returns its base URL.
func servingAt(t *testing.T, server *process) string {
	t.Helper()
	serving := server.line(t, "solvekit "+solvekit.Version+" serving ")
	return strings.Fields(strings.TrimPrefix(serving, "solvekit "+solvekit.Version+" serving "))[0]
}

// submitEchoAsAdmin logs in on base as the admin and runs "submit echo
// --wait" with instance in; the execution must succeed.
func submitEchoAsAdmin(t *testing.T, base, in string) *api.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(time.Minute))
	defer cancel()
	tok, err := client.New(base).Login(ctx, "admin", "admin-password-1")
	require.NoError(t, err)
	r := runBin(t, baseEnv("SOLVEKIT_SERVER="+base, "SOLVEKIT_TOKEN="+tok.Token, "SOLVEKIT_CONFIG="+filepath.Join(t.TempDir(), "none.json")),
		in, "submit", "echo", "--wait", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	e := decode[api.Execution](t, r.stdout)
	require.Equal(t, job.StateSucceeded, e.State)
	return e
}

func TestServeAndWorkOnSharedRedis(t *testing.T) {
	env := sharedRedisEnv(t)
	server := startProcess(t, env, "serve", "--addr", "127.0.0.1:0")
	base := servingAt(t, server)
	worker := startProcess(t, env, "work", "--concurrency", "2")
	worker.line(t, "solvekit "+solvekit.Version+" worker ")

	e := submitEchoAsAdmin(t, base, `{"via":"worker"}`)
	// The API process runs no worker: the work process ran it.
	require.Contains(t, e.Worker, ":"+strconv.Itoa(worker.cmd.Process.Pid)+":")

	// The metrics are served beside the API and counted its requests.
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "solvekit_executions_submitted_total")
	require.Contains(t, string(body), "solvekit_http_requests_total")

	server.stop(t)
	worker.stop(t)
}

func TestServeEmbeddedPrintsAdminToken(t *testing.T) {
	p := startProcess(t, baseEnv("SOLVEKIT_LOG_LEVEL=warn"), "serve", "--addr", "127.0.0.1:0")
	export := p.line(t, "export SOLVEKIT_SERVER=")
	env := baseEnv(append(strings.Fields(strings.TrimPrefix(export, "export ")), "SOLVEKIT_CONFIG="+filepath.Join(t.TempDir(), "none.json"))...)
	// The embedded Redis has a worker in the serve process.
	r := runBin(t, env, `{"embedded":true}`, "submit", "echo", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^state:\s+succeeded$`, r.stdout)
	p.stop(t)
}

func TestWorkNeedsRedis(t *testing.T) {
	r := runBin(t, baseEnv(), "", "work")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "work needs --redis-url or SOLVEKIT_REDIS_URL")
	r = runBin(t, baseEnv("SOLVEKIT_CONCURRENCY=many", "SOLVEKIT_REDIS_URL=redis://127.0.0.1:1/0"), "", "work")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `SOLVEKIT_CONCURRENCY="many"`)
}

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
	env := sharedRedisEnv(t, "OTEL_SERVICE_NAME=", "OTEL_SDK_DISABLED=", "OTEL_TRACES_EXPORTER=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=")
	server := startProcess(t, append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="), "serve", "--addr", "127.0.0.1:0", "--otlp-endpoint", rcv.srv.URL)
	base := servingAt(t, server)
	worker := startProcess(t, append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.srv.URL, "OTEL_SERVICE_NAME=solvekit-worker"),
		"work", "--concurrency", "2")
	worker.line(t, "solvekit "+solvekit.Version+" worker ")
	submitEchoAsAdmin(t, base, `{"traced":true}`)

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
