package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/servicetest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// testSecret signs the test servers' login tokens.
const testSecret = "cli-test-signing-secret-0123456789abcdef"

// testServer is the REST API (the handler serve builds) over a Service
// with the built-in job types and a worker on the test's own Redis
// database, and an admin token for it.
type testServer struct {
	svc        *solvekit.Service
	url, token string
	home       string
}

// testBootstrapToken creates the test servers' first admin.
const testBootstrapToken = "bt_cli-test-bootstrap-token-0123456789"

func startServer(t *testing.T) *testServer {
	t.Helper()
	svc := servicetest.Start(t, builtinJobTypes()...)
	// The first admin comes from the one-time bootstrap token rather than
	// BootstrapAdmin: New hashes a BootstrapAdmin password within a fixed
	// 10 s, which bcrypt under the race detector on a loaded machine can
	// exceed; a request has the test's patience.
	h, err := newHandler(svc, httpapi.Options{JWTSecret: []byte(testSecret), BootstrapToken: testBootstrapToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, "/metrics", nil)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(time.Minute))
	defer cancel()
	_, err = client.New(srv.URL, client.WithToken(testBootstrapToken)).CreateUser(ctx,
		api.UserCreate{Username: "admin", Password: "admin-password-1", Role: api.RoleAdmin})
	require.NoError(t, err)
	tok, err := client.New(srv.URL).Login(ctx, "admin", "admin-password-1")
	require.NoError(t, err)
	return &testServer{svc: svc, url: srv.URL, token: tok.Token, home: t.TempDir()}
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary with args against s (SOLVEKIT_SERVER and
// SOLVEKIT_TOKEN), stdin as its input, and a config file that does not
// exist unless a test writes it.
func (s *testServer) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runBin(t, s.env(), stdin, args...)
}

// env is the environment of the binary: this one without SOLVEKIT_
// variables, plus s's server and token and a private home.
func (s *testServer) env(extra ...string) []string {
	env := []string{"SOLVEKIT_SERVER=" + s.url, "SOLVEKIT_TOKEN=" + s.token,
		"HOME=" + s.home, "XDG_CONFIG_HOME=" + filepath.Join(s.home, ".config")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOLVEKIT_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func runBin(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err, "solvekit %s", strings.Join(args, " "))
	}
	require.NoError(t, ctx.Err(), "solvekit %s did not end", strings.Join(args, " "))
	return r
}

// ok runs the binary and requires exit code 0.
func (s *testServer) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := s.run(t, stdin, args...)
	require.Equal(t, 0, r.code, "solvekit %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// requireUnauthorized requires r to have failed (exit code 1) with the
// server's 401.
func requireUnauthorized(t *testing.T, r result) {
	t.Helper()
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "401")
}

// decode parses JSON output into a T.
func decode[T any](t *testing.T, out string) *T {
	t.Helper()
	v := new(T)
	require.NoError(t, json.Unmarshal([]byte(out), v), "output: %s", out)
	return v
}

func TestSubmitWaitGetSolutionLogs(t *testing.T) {
	s := startServer(t)

	out := s.ok(t, `{"message":"hello"}`, "submit", "echo", "--wait")
	require.Regexp(t, `(?m)^state:\s+succeeded$`, out)
	require.Regexp(t, `(?m)^job type:\s+echo$`, out)

	e := decode[api.Execution](t, s.ok(t, `{"message":"json"}`, "submit", "echo", "-", "--wait", "--output", "json", "--name", "second", "--meta", "team=ops"))
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, "second", e.Name)
	require.Equal(t, map[string]string{"team": "ops"}, e.Metadata)

	got := decode[api.Execution](t, s.ok(t, "", "get", e.ID, "-o", "json"))
	require.Equal(t, e.ID, got.ID)
	require.Equal(t, job.StateSucceeded, got.State)
	require.Regexp(t, `(?m)^id:\s+`+e.ID+`$`, s.ok(t, "", "get", e.ID))

	require.JSONEq(t, `{"message":"json"}`, s.ok(t, "", "solution", e.ID))
	require.Contains(t, s.ok(t, "", "logs", e.ID), "INFO  echo bytes=18")
	logs := s.ok(t, "", "logs", e.ID, "-o", "json")
	rec := decode[struct {
		Message string `json:"message"`
	}](t, strings.SplitN(logs, "\n", 2)[0])
	require.Equal(t, "echo", rec.Message)

	// An instance from a file.
	file := filepath.Join(t.TempDir(), "in.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"from":"file"}`), 0o600))
	e = decode[api.Execution](t, s.ok(t, "", "submit", "echo", file, "--wait", "-o", "json"))
	require.JSONEq(t, `{"from":"file"}`, s.ok(t, "", "solution", e.ID))
}

func TestSubmitUnsuccessfulAndInvalid(t *testing.T) {
	s := startServer(t)

	r := s.run(t, `{}`, "submit", "echo", "--config", `{"fail":true}`, "--wait")
	require.Equal(t, exitUnsuccessful, r.code, r.stderr)
	require.Regexp(t, `(?m)^state:\s+failed$`, r.stdout)
	require.Contains(t, r.stderr, "ended failed: echo was asked to fail")

	// The server's validation problem, with its violation.
	r = s.run(t, `{}`, "submit", "echo", "--config", `{"seconds":"many"}`)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "422")
	require.Contains(t, r.stderr, "/seconds")

	r = s.run(t, `not json`, "submit", "echo")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "not valid JSON")

	r = s.run(t, ``, "list", "--output", "yaml")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "want table or json")
	for _, args := range [][]string{{"get"}, {"frobnicate"}, {"list", "--no-such-flag"}, {"submit", "echo", "--meta", "novalue"}} {
		r = s.run(t, `{}`, args...)
		require.Equal(t, exitUsage, r.code, "solvekit %v: %s", args, r.stderr)
	}
}

func TestFollowPrintsLogAndProgress(t *testing.T) {
	s := startServer(t)
	// stdout is a pipe, not a terminal: plain lines, no status line.
	out := s.ok(t, `{"x":1}`, "submit", "echo", "--config", `{"seconds":0.5}`, "--follow")
	for _, want := range []string{"state running (attempt 1)", "progress 100% step 10 of 10", "incumbent, objective 10",
		"INFO  step step=10", "state succeeded (attempt 1), solver status optimal"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "\x1b[K")
	require.Regexp(t, `(?m)^state:\s+succeeded$`, out)
	// The events come in order (log records are a stream of their own,
	// merged in as they are read, so they are not ordered against these).
	require.Less(t, strings.Index(out, "state running"), strings.Index(out, "progress 10% step 1 of 10"))
	require.Less(t, strings.Index(out, "progress 10% step 1 of 10"), strings.Index(out, "progress 100% step 10 of 10"))
	require.Less(t, strings.Index(out, "progress 100% step 10 of 10"), strings.Index(out, "state succeeded"))
}

func TestListTableAndJSON(t *testing.T) {
	s := startServer(t)
	a := decode[api.Execution](t, s.ok(t, `{"n":1}`, "submit", "echo", "--wait", "-o", "json", "--meta", "batch=a"))
	b := decode[api.Execution](t, s.ok(t, `{"n":2}`, "submit", "echo", "--wait", "-o", "json", "--meta", "batch=b"))
	r := s.run(t, `{"n":3}`, "submit", "echo", "--wait", "-o", "json", "--config", `{"fail":true}`)
	require.Equal(t, exitUnsuccessful, r.code)
	c := decode[api.Execution](t, r.stdout)

	l := decode[api.ExecutionList](t, s.ok(t, "", "list", "--output", "json"))
	require.EqualValues(t, 3, l.TotalEntries)
	ids := []string{}
	for _, e := range l.Executions {
		ids = append(ids, e.ID)
	}
	require.ElementsMatch(t, []string{a.ID, b.ID, c.ID}, ids)

	table := s.ok(t, "", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 4, table)
	require.Regexp(t, `^ID\s+JOB TYPE\s+STATE\s+SOLVER STATUS\s+OBJECTIVE\s+CREATED\s+NAME$`, lines[0])
	require.Regexp(t, `(?m)^`+c.ID+`\s+echo\s+failed\s`, table)
	require.Regexp(t, `(?m)^`+a.ID+`\s+echo\s+succeeded\s+optimal\s`, table)

	failed := decode[api.ExecutionList](t, s.ok(t, "", "list", "--status", "failed", "-o", "json"))
	require.Len(t, failed.Executions, 1)
	require.Equal(t, c.ID, failed.Executions[0].ID)
	byMeta := decode[api.ExecutionList](t, s.ok(t, "", "list", "--meta", "batch=b", "-o", "json"))
	require.Len(t, byMeta.Executions, 1)
	require.Equal(t, b.ID, byMeta.Executions[0].ID)

	// Pages of one: the table says how to go on; --all reads them all.
	r = s.run(t, "", "list", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "1 of 3 shown; next page: --page-token ")
	all := decode[api.ExecutionList](t, s.ok(t, "", "list", "--limit", "1", "--all", "-o", "json"))
	require.Len(t, all.Executions, 3)
}

func TestStopRunningExecution(t *testing.T) {
	s := startServer(t)
	e := decode[api.Execution](t, s.ok(t, `{}`, "submit", "echo", "--config", `{"seconds":600}`, "-o", "json"))
	require.Equal(t, job.StateQueued, e.State)
	servicetest.WaitState(t, s.svc, e.ID, job.StateRunning, 30*time.Second)

	stopped := decode[api.Execution](t, s.ok(t, "", "stop", e.ID, "--wait", "-o", "json"))
	require.Equal(t, job.StateStopped, stopped.State)
	// The log, followed after the end, holds the job's own stop line.
	require.Contains(t, s.ok(t, "", "logs", "-f", e.ID), "INFO  stopped step=")

	// A finished execution cannot be stopped: the server's 409 or 422.
	r := s.run(t, "", "stop", e.ID)
	require.Equal(t, 1, r.code)
	require.NotEmpty(t, r.stderr)

	// Relaunched with a config that finishes at once.
	re := decode[api.Execution](t, s.ok(t, "", "relaunch", e.ID, "--config", `{"seconds":0}`, "--wait", "-o", "json"))
	require.Equal(t, job.StateSucceeded, re.State)
	require.Equal(t, 2, re.Attempt)

	// Followed, a relaunch shows its own attempt, not the replayed ones.
	out := s.ok(t, "", "relaunch", e.ID, "--follow")
	require.Contains(t, out, "state succeeded (attempt 3)")
	require.NotContains(t, out, "attempt 1")
	require.NotContains(t, out, "stopped step=")
	require.Regexp(t, `(?m)^attempt:\s+3$`, out)
}

func TestBadToken(t *testing.T) {
	s := startServer(t)
	r := s.run(t, "", "list", "--token", "not-a-token")
	requireUnauthorized(t, r)
	require.Contains(t, r.stderr, "check --token, SOLVEKIT_TOKEN or the config file")
	require.Empty(t, r.stdout)

	r = runBin(t, s.env("SOLVEKIT_TOKEN="), `{}`, "submit", "echo")
	requireUnauthorized(t, r)
}

func TestConfigFileAndLogin(t *testing.T) {
	s := startServer(t)
	noEnv := s.env("SOLVEKIT_SERVER=", "SOLVEKIT_TOKEN=")

	// login writes the default config file, which the next commands read.
	r := runBin(t, noEnv, "admin-password-1\n", "login", "admin", "--server", s.url)
	require.Equal(t, 0, r.code, r.stderr)
	path := filepath.Join(s.home, ".config", "solvekit", "config.json")
	require.Contains(t, r.stdout, path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	r = runBin(t, noEnv, "", "status", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	st := decode[api.ServiceStatus](t, r.stdout)
	require.ElementsMatch(t, []string{"echo", "mip"}, st.JobTypes)

	// --config-file names another; a flag wins over it.
	other := filepath.Join(t.TempDir(), "other.json")
	b, _ := json.Marshal(fileConfig{Server: s.url, Token: "stale"})
	require.NoError(t, os.WriteFile(other, b, 0o600))
	r = runBin(t, noEnv, "", "queues", "--config-file", other)
	requireUnauthorized(t, r)
	r = runBin(t, noEnv, "", "queues", "--config-file", other, "--token", s.token)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^QUEUE\s+SIZE`, r.stdout)

	r = runBin(t, noEnv, "wrong-password\n", "login", "admin", "--server", s.url)
	requireUnauthorized(t, r)
}

func TestOperationsCommands(t *testing.T) {
	s := startServer(t)
	types := decode[api.JobTypeList](t, s.ok(t, "", "job-types", "-o", "json"))
	names := []string{}
	for _, jt := range types.JobTypes {
		names = append(names, jt.Name)
	}
	require.ElementsMatch(t, []string{"echo", "mip"}, names)
	mip := decode[api.JobTypeDetail](t, s.ok(t, "", "job-types", "mip", "-o", "json"))
	require.Equal(t, []string{"cbc", "glpk", "mip"}, mip.Solvers)
	require.NotEmpty(t, mip.InstanceSchema)
	require.Regexp(t, `(?m)^echo\s+async\s+default\s`, s.ok(t, "", "job-types"))

	queues := decode[api.QueueList](t, s.ok(t, "", "queues", "-o", "json"))
	require.NotEmpty(t, queues.Queues)
	workers := decode[api.WorkerList](t, s.ok(t, "", "workers", "-o", "json"))
	require.NotEmpty(t, workers.Workers)
	users := decode[api.UserList](t, s.ok(t, "", "users", "-o", "json"))
	require.Len(t, users.Users, 1)
	require.Equal(t, "admin", users.Users[0].Username)

	u := decode[api.User](t, s.ok(t, "planner-password-1\n", "users", "create", "plan", "--role", "planner", "-o", "json"))
	require.Equal(t, api.RolePlanner, u.Role)

	// An API key works as a token.
	k := decode[api.APIKeyCreated](t, s.ok(t, "", "api-keys", "create", "--name", "ci", "-o", "json"))
	require.NotEmpty(t, k.Key)
	keys := decode[api.APIKeyList](t, s.ok(t, "", "api-keys", "-o", "json"))
	require.Len(t, keys.APIKeys, 1)
	r := runBin(t, s.env("SOLVEKIT_TOKEN="+k.Key), `{}`, "submit", "echo", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	s.ok(t, "", "api-keys", "delete", k.ID)
	r = runBin(t, s.env("SOLVEKIT_TOKEN="+k.Key), "", "list")
	requireUnauthorized(t, r)

	// Cleanup deletes the finished execution.
	r = s.run(t, "", "cleanup")
	require.Equal(t, exitUsage, r.code, "--finished-before is required")
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cl := decode[api.CleanupResult](t, s.ok(t, "", "cleanup", "--finished-before", later, "-o", "json"))
	require.Equal(t, 1, cl.DeletedEntries)
	l := decode[api.ExecutionList](t, s.ok(t, "", "list", "-o", "json"))
	require.Empty(t, l.Executions)
}

func TestSubmitModelFile(t *testing.T) {
	for _, b := range []string{"cbc", "glpsol"} {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("SOLVEKIT_REQUIRE_SOLVERS") != "" {
				t.Fatalf("%s is not installed and SOLVEKIT_REQUIRE_SOLVERS is set", b)
			}
			t.Skipf("%s is not installed", b)
		}
	}
	s := startServer(t)
	lp := filepath.Join(t.TempDir(), "diet.lp")
	require.NoError(t, os.WriteFile(lp, []byte("Minimize\n cost: 3 b + 4 m\nSubject To\n energy: 2 b + m >= 8\n protein: b + 2 m >= 6\n"+
		"Bounds\n 0 <= b <= 10\n 0 <= m <= 10\nGeneral\n b m\nEnd\n"), 0o600))
	for _, solver := range []string{"cbc", "glpk"} {
		e := decode[api.Execution](t, s.ok(t, "", "submit", "mip", lp, "--solver", solver, "--wait", "-o", "json"))
		require.Equal(t, job.StateSucceeded, e.State, solver)
		require.NotEmpty(t, e.InstanceID, "the model was uploaded as an instance")
		require.NotNil(t, e.Objective)
		require.InDelta(t, 16, *e.Objective, 1e-6)
		sol := decode[struct{ Variables map[string]float64 }](t, s.ok(t, "", "solution", e.ID))
		require.Equal(t, map[string]float64{"b": 4, "m": 1}, sol.Variables)
	}
}
