package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/serviceredis"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// patience bounds every wait of these tests: long enough for a loaded
// machine, only reached when something hangs.
const patience = 2 * time.Minute

// env is a real Service with a worker on the package's private Redis, the
// REST handler behind a host Authenticator (the X-Session header), and a
// gate that holds "gated" jobs until the test opens it.
type env struct {
	svc  *solvekit.Service
	base string
	gate chan struct{}
}

var sessions = map[string]httpapi.Principal{
	"alice-session": {ID: "alice", Username: "alice", Role: api.RolePlanner, Source: "host"},
	"ops-session":   {ID: "ops", Username: "ops", Role: api.RoleAdmin, Source: "host"},
}

// scaleJob multiplies the instance's x by the config's factor (default 2).
func scaleJob() *job.Definition {
	return job.AsyncOf("scale", func(ctx context.Context, jc *job.Context, in struct{ X float64 }) (map[string]float64, error) {
		var cfg struct{ Factor float64 }
		err := jc.DecodeConfig(&cfg)
		return map[string]float64{"y": cfg.Factor * in.X}, err
	}, job.WithConfigSchema([]byte(`{"type":"object","properties":{"factor":{"type":"number","default":2}}}`)))
}

func newEnv(t *testing.T) *env { return newEnvConfig(t, solvekit.Config{}) }

// newEnvConfig is newEnv with a Service configured by cfg (its Redis,
// Logger and Concurrency are set here).
func newEnvConfig(t *testing.T, cfg solvekit.Config) *env {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	cfg.Redis, cfg.Logger, cfg.Concurrency = redistest.Client(t), quiet, 4
	svc, err := solvekit.New(context.Background(), cfg)
	require.NoError(t, err)
	e := &env{svc: svc, gate: make(chan struct{})}
	gated := job.Async("gated", func(ctx context.Context, jc *job.Context) (any, error) {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]string{"gate": "open"}, nil
	})
	require.NoError(t, svc.Register(gated, scaleJob()))
	ctx, cancel := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- svc.Work(ctx) }()
	h, err := httpapi.New(svc, httpapi.Options{Logger: quiet,
		// redistest's Redis is not the embedded one: built-in logins need a secret.
		JWTSecret: []byte("client-test-signing-secret-0123456789"),
		Authenticator: httpapi.AuthenticatorFunc(func(r *http.Request) (*httpapi.Principal, error) {
			sid := r.Header.Get("X-Session")
			if sid == "" {
				return nil, nil
			}
			p, ok := sessions[sid]
			if !ok {
				return nil, errors.New("unknown session")
			}
			return &p, nil
		})})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		require.NoError(t, <-worked)
		require.NoError(t, svc.Close())
	})
	e.base = srv.URL
	return e
}

// aliceEnv is newEnv, a client that sends alice's host session (with
// opts), and a context bounded by patience.
func aliceEnv(t *testing.T, opts ...client.Option) (*env, context.Context, *client.Client) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return e, ctx, client.New(e.base, append([]client.Option{client.WithHeader("X-Session", "alice-session")}, opts...)...)
}

// create submits a jobType execution through c.
func create(t *testing.T, ctx context.Context, c *client.Client, jobType, instance string) *api.Execution {
	t.Helper()
	ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: jobType, Instance: json.RawMessage(instance)}, 0)
	require.NoError(t, err)
	return ex
}

// waitEnds waits through c for execution id to end in state want.
func waitEnds(t *testing.T, ctx context.Context, c *client.Client, id string, want record.State) *api.Execution {
	t.Helper()
	ex, err := c.WaitExecution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, want, ex.State)
	return ex
}

// counting is an http.RoundTripper that counts GET /executions/{id}
// requests and reports each one as it is sent.
type counting struct {
	mu   sync.Mutex
	gets int
	sent chan string // the query of each GET /executions/{id}
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == "GET" && strings.Count(r.URL.Path, "/") == 2 && strings.HasPrefix(r.URL.Path, "/executions/") {
		c.mu.Lock()
		c.gets++
		c.mu.Unlock()
		select {
		case c.sent <- r.URL.RawQuery:
		default:
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

func TestWithHeaderAuthenticatesWithHostSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	anon := client.New(e.base)
	_, err := anon.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.Equal(t, 401, client.StatusCode(err))

	alice := anon.With(client.WithHeader("X-Session", "alice-session"))
	ex, err := alice.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":2}`)}, 0)
	require.NoError(t, err)
	require.Equal(t, "alice", ex.Owner)
	// With copies: the anonymous client is still anonymous.
	_, err = anon.GetExecution(ctx, ex.ID)
	require.Equal(t, 401, client.StatusCode(err))
	// A later WithHeader replaces the value; a Request's own header wins.
	ops := alice.With(client.WithHeader("X-Session", "ops-session"))
	st, err := ops.ExecutionStatus(ctx, ex.ID)
	require.NoError(t, err)
	require.Equal(t, ex.ID, st.ID)
	var u api.User
	require.NoError(t, ops.Do(ctx, client.Request{Method: "GET", Path: "/user",
		Header: http.Header{"X-Session": {"alice-session"}}}, &u))
	require.Equal(t, "alice", u.ID)
}

func TestWithRequestEditor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var seen []string
	sign := func(ctx context.Context, r *http.Request) error {
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Job-Key"))
		r.Header.Set("X-Session", "alice-session")
		return nil
	}
	c := client.New(e.base, client.WithRequestEditor(sign), client.WithJobKey("k"))
	ex := create(t, ctx, c, "scale", `{"x":2}`)
	require.Equal(t, "alice", ex.Owner)
	require.Equal(t, []string{"POST /executions k"}, seen, "editors run last, on every request")

	refused := errors.New("no signing key")
	_, err := c.With(client.WithRequestEditor(func(context.Context, *http.Request) error { return refused })).
		GetExecution(ctx, ex.ID)
	require.ErrorIs(t, err, refused)
	require.Len(t, seen, 2, "editors run in order; an error stops the call before it is sent")
	_, err = c.GetExecution(ctx, ex.ID)
	require.NoError(t, err, "With left c's editors alone")
	require.Len(t, seen, 3)
}

// TestWaitExecutionLongPolls: WaitExecution holds one request open on the
// server (GET /executions/{id}?wait=) until the execution ends.
func TestWaitExecutionLongPolls(t *testing.T) {
	rt := &counting{sent: make(chan string, 16)}
	e, ctx, c := aliceEnv(t, client.WithHTTPClient(&http.Client{Transport: rt}))
	ex := create(t, ctx, c, "gated", `{}`)

	type result struct {
		e   *api.Execution
		err error
	}
	got := make(chan result, 1)
	go func() {
		w, err := c.WaitExecution(ctx, ex.ID)
		got <- result{w, err}
	}()
	select {
	case q := <-rt.sent:
		require.Equal(t, "wait=30s", q)
	case <-ctx.Done():
		t.Fatal("WaitExecution sent no request")
	}
	// The server holds the poll: it waits on the execution's done channel.
	rdb, prefix := serviceredis.Of(e.svc)
	done := prefix + ":done:" + ex.ID
	for {
		n, err := rdb.PubSubNumSub(ctx, done).Result()
		require.NoError(t, err)
		if n[done] > 0 {
			break
		}
		require.NoError(t, ctx.Err(), "the server never waited on the execution")
		time.Sleep(5 * time.Millisecond)
	}
	close(e.gate)
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, record.StateSucceeded, r.e.State)
	require.Equal(t, 1, rt.count(), "one long poll, answered when the execution ended")
}

// TestWaitExecutionContextEnds: when ctx ends first, WaitExecution gives
// the execution as last seen and ctx's error, like Service.Wait.
func TestWaitExecutionContextEnds(t *testing.T) {
	rt := &counting{sent: make(chan string, 16)}
	e, ctx, c := aliceEnv(t, client.WithHTTPClient(&http.Client{Transport: rt}), client.WithLongPoll(50*time.Millisecond))
	ex := create(t, ctx, c, "gated", `{}`)
	// Cancel once the second poll is sent: the first one has been answered.
	wctx, stop := context.WithCancel(ctx)
	go func() {
		for range 2 {
			<-rt.sent
		}
		stop()
	}()
	w, err := c.WaitExecution(wctx, ex.ID)
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, w, "the execution as last seen")
	require.Equal(t, ex.ID, w.ID)
	require.False(t, w.State.Terminal())
	close(e.gate)
	waitEnds(t, ctx, c, ex.ID, record.StateSucceeded)
}

// TestRelaunchExecutionWaits relaunches with a new config, as
// Service.Relaunch does, and waits for the new attempt.
func TestRelaunchExecutionWaits(t *testing.T) {
	_, ctx, c := aliceEnv(t)
	ex := create(t, ctx, c, "scale", `{"x":21}`)
	ex = waitEnds(t, ctx, c, ex.ID, record.StateSucceeded)
	sol, err := c.ExecutionData(ctx, ex.ID, "")
	require.NoError(t, err)
	require.JSONEq(t, `{"y":42}`, string(sol))

	re, err := c.RelaunchExecution(ctx, ex.ID, client.RelaunchRequest{Config: json.RawMessage(`{"factor":3}`), Wait: patience})
	require.NoError(t, err)
	require.Equal(t, record.StateSucceeded, re.State)
	require.Equal(t, 2, re.Attempt)
	require.JSONEq(t, `{"factor":3}`, string(re.Config))
	sol, err = c.ExecutionData(ctx, ex.ID, "")
	require.NoError(t, err)
	require.JSONEq(t, `{"y":63}`, string(sol))

	// Without Wait the answer comes at once, with the new attempt queued.
	re, err = c.RelaunchExecution(ctx, ex.ID, client.RelaunchRequest{})
	require.NoError(t, err)
	require.Equal(t, 3, re.Attempt)
	require.JSONEq(t, `{"factor":3}`, string(re.Config), "no config: the last one is kept")
	waitEnds(t, ctx, c, ex.ID, record.StateSucceeded)

	// A refused relaunch is the server's problem, not a wait.
	_, err = c.RelaunchExecution(ctx, ex.ID, client.RelaunchRequest{Config: json.RawMessage(`{"factor":"x"}`), Wait: patience})
	require.Equal(t, 422, client.StatusCode(err))
}

// TestRelaunchWaitPasses: when Wait passes first, the answer is the
// execution as it is then, without an error.
func TestRelaunchWaitPasses(t *testing.T) {
	e, ctx, c := aliceEnv(t)
	ex := create(t, ctx, c, "gated", `{}`)
	_, err := c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
	ex = waitEnds(t, ctx, c, ex.ID, record.StateStopped)

	re, err := c.RelaunchExecution(ctx, ex.ID, client.RelaunchRequest{Wait: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 2, re.Attempt)
	require.False(t, re.State.Terminal(), "the gate is closed: still %s", re.State)
	close(e.gate)
	waitEnds(t, ctx, c, ex.ID, record.StateSucceeded)
}

func TestExecutionFilterStatus(t *testing.T) {
	e, ctx, c := aliceEnv(t)
	done := create(t, ctx, c, "scale", `{"x":1}`)
	waitEnds(t, ctx, c, done.ID, record.StateSucceeded)
	held := create(t, ctx, c, "gated", `{}`)
	defer close(e.gate)

	list, err := c.ListExecutions(ctx, client.ExecutionFilter{Status: record.StateSucceeded}, client.Page{})
	require.NoError(t, err)
	require.Len(t, list.Executions, 1)
	require.Equal(t, done.ID, list.Executions[0].ID)
	list, err = c.ListExecutions(ctx, client.ExecutionFilter{JobType: "gated"}, client.Page{})
	require.NoError(t, err)
	require.Len(t, list.Executions, 1)
	require.Equal(t, held.ID, list.Executions[0].ID)
}
