package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	return aliceEnvConfig(t, solvekit.Config{}, opts...)
}

// aliceEnvConfig is aliceEnv over newEnvConfig's Service.
func aliceEnvConfig(t *testing.T, cfg solvekit.Config, opts ...client.Option) (*env, context.Context, *client.Client) {
	e := newEnvConfig(t, cfg)
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

// TestCreateExecutions: POST /executions:batch creates every execution of
// the batch with its job key, in order, and they run; an invalid item
// fails the batch with a 422 pointing at it and nothing stored.
func TestCreateExecutions(t *testing.T) {
	_, ctx, c := aliceEnv(t)
	reqs := make([]api.ExecutionCreate, 5)
	for i := range reqs {
		reqs[i] = api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(fmt.Sprintf(`{"values":[%d]}`, i)),
			Metadata: map[string]string{"batch": "one"}}
	}
	waitCtx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	es, err := c.CreateExecutions(ctx, reqs)
	require.NoError(t, err)
	require.Len(t, es, len(reqs))
	for _, e := range es {
		require.NotEmpty(t, e.JobKey)
		done, err := c.WaitExecution(waitCtx, e.ID)
		require.NoError(t, err)
		require.EqualValues(t, "succeeded", done.State)
	}

	bad := append([]api.ExecutionCreate{}, reqs...)
	bad[3] = api.ExecutionCreate{JobType: "no-such-type", Instance: json.RawMessage(`{}`)}
	for i := range bad {
		bad[i].Metadata = map[string]string{"batch": "two"}
	}
	_, err = c.CreateExecutions(ctx, bad)
	p := requireStatus(t, err, http.StatusUnprocessableEntity)
	require.NotEmpty(t, p.Errors)
	require.Equal(t, "/executions/3/job_type", p.Errors[0].Pointer)
	list, err := c.ListExecutions(ctx, client.ExecutionFilter{Metadata: map[string]string{"batch": "two"}}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, list.Executions, "nothing of an invalid batch is stored")

	_, err = c.CreateExecutions(ctx, nil)
	requireStatus(t, err, http.StatusUnprocessableEntity)
}

// TestCreateExecutionOnce: a repeated POST /executions with one
// Idempotency-Key answers 200 with the first execution (no job key); the
// key with another body is 422; concurrent repeats make one execution; a
// chosen id names the execution and is 409 when taken.
func TestCreateExecutionOnce(t *testing.T) {
	_, ctx, c := aliceEnv(t)
	req := api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"values":[1,2]}`)}
	first, replayed, err := c.CreateExecutionOnce(ctx, "order-1", req, 0)
	require.NoError(t, err)
	require.False(t, replayed)
	require.NotEmpty(t, first.JobKey)

	again, replayed, err := c.CreateExecutionOnce(ctx, "order-1", req, 0)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, first.ID, again.ID)
	require.Empty(t, again.JobKey, "only the first answer shows the job key")

	// A replay that waits answers the first execution once it has ended.
	waited, replayed, err := c.CreateExecutionOnce(ctx, "order-1", req, patience)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, first.ID, waited.ID)
	require.EqualValues(t, "succeeded", waited.State)

	_, _, err = c.CreateExecutionOnce(ctx, strings.Repeat("k", 256), req, 0)
	requireStatus(t, err, http.StatusBadRequest)

	other := req
	other.Instance = json.RawMessage(`{"values":[9]}`)
	_, _, err = c.CreateExecutionOnce(ctx, "order-1", other, 0)
	requireStatus(t, err, http.StatusUnprocessableEntity)

	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := c.CreateExecutionOnce(ctx, "order-2", req, 0)
			if err == nil {
				ids[i] = e.ID
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	require.NotEmpty(t, ids[0])
	require.NotEqual(t, first.ID, ids[0])

	named := req
	named.ID = "alice-run-1"
	e, err := c.CreateExecution(ctx, named, 0)
	require.NoError(t, err)
	require.Equal(t, "alice-run-1", e.ID)
	_, err = c.CreateExecution(ctx, named, 0)
	requireStatus(t, err, http.StatusConflict)
	named.ID = "bad:id"
	_, err = c.CreateExecution(ctx, named, 0)
	requireStatus(t, err, http.StatusUnprocessableEntity)
}

// TestTagsRoundTrip drives the tags API through the Go client: tags and
// require_tags on POST /executions, tags on instances, ?tag= listings
// with page tokens, GET/POST /tags, GET /tags/{tag}, PATCH tags, DELETE
// /tags/{tag} (admin), invalid tags as 422 and 400 problems, and the
// OpenAPI document describing every tags route and field.
func TestTagsRoundTrip(t *testing.T) {
	e, ctx, c := aliceEnv(t)
	ops := client.New(e.base, client.WithHeader("X-Session", "ops-session"))
	var ids []string
	for i := 0; i < 5; i++ {
		ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":1}`),
			Tags: []string{"batch-7", "team:ops"}}, 0)
		require.NoError(t, err)
		require.Equal(t, []string{"batch-7", "team:ops"}, ex.Tags)
		ids = append(ids, ex.ID)
	}
	untagged := create(t, ctx, c, "scale", `{"x":2}`)
	in, err := c.CreateInstance(ctx, api.InstanceCreate{Name: "i1", Data: json.RawMessage(`{"x":3}`), Tags: []string{"batch-7"}})
	require.NoError(t, err)
	require.Equal(t, []string{"batch-7"}, in.Tags)

	// ?tag= with page tokens.
	var seen []string
	p := client.Page{Limit: 2}
	for {
		l, err := c.ListExecutions(ctx, client.ExecutionFilter{Tag: "batch-7"}, p)
		require.NoError(t, err)
		require.Equal(t, int64(5), l.TotalEntries)
		for _, x := range l.Executions {
			seen = append(seen, x.ID)
		}
		if l.NextPageToken == "" {
			break
		}
		p.Token = l.NextPageToken
	}
	require.ElementsMatch(t, ids, seen)
	il, err := c.ListTaggedInstances(ctx, "batch-7", client.Page{})
	require.NoError(t, err)
	require.Len(t, il.Instances, 1)

	// GET /tags and GET /tags/{tag}.
	tl, err := c.ListTags(ctx, client.Page{})
	require.NoError(t, err)
	require.Len(t, tl.Tags, 2)
	require.Equal(t, api.Tag{Name: "batch-7", Executions: 5, Instances: 1, JobTypes: []string{}}, *tl.Tags[0])
	d, err := ops.GetTag(ctx, "batch-7", client.Page{Limit: 4})
	require.NoError(t, err)
	require.Len(t, d.Items, 4)
	require.NotEmpty(t, d.NextPageToken)
	d2, err := ops.GetTag(ctx, "batch-7", client.Page{Limit: 4, Token: d.NextPageToken})
	require.NoError(t, err)
	require.Equal(t, []api.TaggedItem{{Kind: "execution", ID: ids[0]}, {Kind: "instance", ID: in.ID}}, d2.Items)
	require.Empty(t, d2.NextPageToken)
	mine, err := c.GetTag(ctx, "batch-7", client.Page{})
	require.NoError(t, err)
	require.Empty(t, mine.Items, "a planner without sharing gets counts, not other owners' ids")
	require.Equal(t, int64(5), mine.Executions)

	// POST /tags attaches; PATCH replaces one record's tags.
	tag, err := c.AttachTag(ctx, api.TagAttach{Tag: "urgent", ExecutionIDs: []string{untagged.ID, ids[0]}, InstanceIDs: []string{in.ID}})
	require.NoError(t, err)
	require.Equal(t, int64(2), tag.Executions)
	require.Equal(t, int64(1), tag.Instances)
	_, err = c.AttachTag(ctx, api.TagAttach{Tag: "urgent", ExecutionIDs: []string{"0190f0f0-0000-7000-8000-000000000000"}})
	requireStatus(t, err, http.StatusUnprocessableEntity)
	ex, err := c.PatchExecution(ctx, ids[1], api.ExecutionPatch{Tags: &[]string{"solo"}}, "tags")
	require.NoError(t, err)
	require.Equal(t, []string{"solo"}, ex.Tags)
	pi, err := c.PatchInstance(ctx, in.ID, api.InstancePatch{Tags: &[]string{}}, "tags")
	require.NoError(t, err)
	require.Empty(t, pi.Tags)

	// Invalid tags.
	_, err = c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":1}`), Tags: []string{"Not OK"}}, 0)
	requireStatus(t, err, http.StatusUnprocessableEntity)
	_, err = c.AttachTag(ctx, api.TagAttach{Tag: "UPPER", ExecutionIDs: []string{untagged.ID}})
	requireStatus(t, err, http.StatusUnprocessableEntity)
	_, err = c.ListExecutions(ctx, client.ExecutionFilter{Tag: "bad tag"}, client.Page{})
	requireStatus(t, err, http.StatusBadRequest)

	// DELETE /tags/{tag} is for admins, and removes the tag everywhere.
	_, err = c.DeleteTag(ctx, "batch-7")
	requireStatus(t, err, http.StatusForbidden)
	rm, err := ops.DeleteTag(ctx, "batch-7")
	require.NoError(t, err)
	require.Equal(t, api.TagRemoval{Executions: 4, Instances: 0}, *rm)
	_, err = ops.GetTag(ctx, "batch-7", client.Page{})
	requireStatus(t, err, http.StatusNotFound)
	l, err := c.ListExecutions(ctx, client.ExecutionFilter{Tag: "batch-7"}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, l.Executions)
	got, err := c.GetExecution(ctx, ids[2])
	require.NoError(t, err)
	require.Equal(t, []string{"team:ops"}, got.Tags)
	waitEnds(t, ctx, c, ids[2], record.StateSucceeded)

	// The OpenAPI document covers the routes and the new fields.
	doc, err := c.OpenAPI(ctx)
	require.NoError(t, err)
	var oa struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(doc, &oa))
	require.Contains(t, oa.Paths["/tags"], "get")
	require.Contains(t, oa.Paths["/tags"], "post")
	require.Contains(t, oa.Paths["/tags/{tag}"], "get")
	require.Contains(t, oa.Paths["/tags/{tag}"], "delete")
	require.Contains(t, oa.Components.Schemas["ExecutionCreate"].Properties, "require_tags")
	require.Contains(t, oa.Components.Schemas["ExecutionCreate"].Properties, "tags")
	require.Contains(t, oa.Components.Schemas["InstanceCreate"].Properties, "tags")
}

// requireStatus requires err to be an *api.Problem with status, and
// returns it.
func requireStatus(t *testing.T, err error, status int) *api.Problem {
	t.Helper()
	var p *api.Problem
	require.True(t, errors.As(err, &p), "want a %d problem, got %v", status, err)
	require.Equal(t, status, p.Status, "%+v", p)
	return p
}

// An execution created over REST with a result_url is called back with
// its Execution JSON, signed; the attempt is listed by
// GET /executions/{id}/callbacks and summarised on the execution.
func TestCallbackOverREST(t *testing.T) {
	secret := []byte("rest-callback-secret")
	bodies := make(chan []byte, 4)
	sigs := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sigs <- r.Header.Get(solvekit.CallbackSignatureHeader)
		bodies <- b
	}))
	defer rcv.Close()
	_, ctx, c := aliceEnvConfig(t, solvekit.Config{CallbackSecret: secret, CallbackAllowPrivate: true, CallbackInterval: 20 * time.Millisecond})

	ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":2}`), ResultURL: rcv.URL + "/done"}, 0)
	require.NoError(t, err)
	require.Equal(t, rcv.URL+"/done", ex.ResultURL)

	var body []byte
	select {
	case body = <-bodies:
	case <-ctx.Done():
		t.Fatal("no callback received")
	}
	require.NoError(t, solvekit.VerifyCallback(secret, <-sigs, body, time.Minute))
	var got api.Execution
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, ex.ID, got.ID)
	require.Equal(t, record.StateSucceeded, got.State)
	require.Equal(t, rcv.URL+"/done", got.ResultURL)

	var list *api.CallbackList
	require.Eventually(t, func() bool {
		list, err = c.Callbacks(ctx, ex.ID)
		require.NoError(t, err)
		return len(list.Attempts) == 1
	}, patience, 10*time.Millisecond)
	require.Equal(t, 200, list.Attempts[0].StatusCode)
	require.Equal(t, ex.ID+":1", list.Attempts[0].Delivery)
	got2, err := c.GetExecution(ctx, ex.ID)
	require.NoError(t, err)
	require.Equal(t, record.CallbackDelivered, got2.CallbackState)
	require.Equal(t, 1, got2.CallbackAttempts)

	_, err = c.Callbacks(ctx, "no-such-execution")
	require.Equal(t, http.StatusNotFound, client.StatusCode(err))

	// A result_url that is not an absolute http(s) URL is refused.
	_, err = c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":2}`), ResultURL: "file:///etc/passwd"}, 0)
	require.Equal(t, http.StatusUnprocessableEntity, client.StatusCode(err), "%v", err)
}
