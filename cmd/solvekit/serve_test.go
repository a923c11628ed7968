package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

func TestServeAndWorkOnSharedRedis(t *testing.T) {
	srv := redistest.Current(t)
	o := srv.Options(srv.DB(t))
	url := fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)
	if o.Network == "unix" {
		url = fmt.Sprintf("unix://%s?db=%d", o.Addr, o.DB)
	}
	env := baseEnv("SOLVEKIT_REDIS_URL="+url, "SOLVEKIT_JWT_SECRET="+testSecret, "SOLVEKIT_ADMIN_PASSWORD=admin-password-1",
		"SOLVEKIT_SHUTDOWN_TIMEOUT=20s", "SOLVEKIT_LOG_LEVEL=warn")
	server := startProcess(t, env, "serve", "--addr", "127.0.0.1:0")
	serving := server.line(t, "solvekit "+solvekit.Version+" serving ")
	base := strings.Fields(strings.TrimPrefix(serving, "solvekit "+solvekit.Version+" serving "))[0]
	worker := startProcess(t, env, "work", "--concurrency", "2")
	worker.line(t, "solvekit "+solvekit.Version+" worker ")

	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(time.Minute))
	defer cancel()
	tok, err := client.New(base).Login(ctx, "admin", "admin-password-1")
	require.NoError(t, err)
	r := runBin(t, baseEnv("SOLVEKIT_SERVER="+base, "SOLVEKIT_TOKEN="+tok.Token, "SOLVEKIT_CONFIG="+filepath.Join(t.TempDir(), "none.json")),
		`{"via":"worker"}`, "submit", "echo", "--wait", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	e := decode[api.Execution](t, r.stdout)
	require.Equal(t, job.StateSucceeded, e.State)
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
