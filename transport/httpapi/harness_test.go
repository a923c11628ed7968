package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/serviceredis"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
	"github.com/solvekit/solvekit/transport/httpapi/internal/users"
)

func TestMain(m *testing.M) {
	users.BcryptCost = bcrypt.MinCost
	os.Exit(redistest.Main(m))
}

var (
	sumInstance = []byte(`{"type":"object","required":["values"],"properties":{"values":{"type":"array","items":{"type":"number","minimum":0}}},"additionalProperties":false}`)
	sumConfig   = []byte(`{"type":"object","properties":{"scale":{"type":"number","default":1}}}`)
	sumSolution = []byte(`{"type":"object","required":["sum"],"properties":{"sum":{"type":"number"}}}`)
)

// sumJob adds numbers, reporting progress, an incumbent and a log line.
func sumJob() *job.Definition {
	return job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ Values []float64 }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		total := 0.0
		for _, v := range in.Values {
			total += v
		}
		jc.Progress(0.5, "half way")
		if err := jc.Incumbent(map[string]float64{"sum": total / 2}, total/2); err != nil {
			return nil, err
		}
		jc.Logger.Info("summed", "total", total)
		return map[string]float64{"sum": total}, nil
	}, job.WithInstanceSchema(sumInstance), job.WithConfigSchema(sumConfig), job.WithSolutionSchema(sumSolution),
		job.WithDescription("adds numbers"))
}

func echoJob() *job.Definition {
	return job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) {
		return jc.Instance, nil
	})
}

// slowJob runs until it is stopped.
func slowJob() *job.Definition {
	return job.Async("slow", func(ctx context.Context, jc *job.Context) (any, error) {
		jc.Progress(0.1, "waiting")
		<-ctx.Done()
		return map[string]string{"stopped": "yes"}, nil
	}, job.WithQueue("slow"))
}

// env is a service with a worker, the handler on an httptest server, and
// clients for each actor.
type env struct {
	t    testing.TB
	svc  *solvekit.Service
	rdb  *redis.Client
	h    http.Handler
	srv  *httptest.Server
	doc  *openapi3.T
	rt   routers.Router
	anon *client.Client

	mu       sync.Mutex
	problems []string
	checked  int

	users map[string]*actor
}

type actor struct {
	name, username, password string
	user                     *api.User
	c                        *client.Client
}

type envOpts struct {
	opts httpapi.Options
	// jobs are registered beside sum, echo and slow.
	jobs []*job.Definition
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	srvR := redistest.Current(t)
	rdb := redis.NewClient(srvR.Options(srvR.DB(t)))
	t.Cleanup(func() { rdb.Close() })
	logger := slog.New(slog.DiscardHandler)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: logger, Concurrency: 8,
		Queues: map[string]int{"default": 1, "slow": 1}, StopGrace: 2 * time.Second})
	require.NoError(t, err)
	require.NoError(t, svc.Register(append([]*job.Definition{sumJob(), echoJob(), slowJob()}, o.jobs...)...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Work(ctx) }()
	opts := o.opts
	if opts.Logger == nil {
		opts.Logger = logger
	}
	if len(opts.JWTSecret) == 0 && !opts.DisableBuiltinAuth {
		opts.JWTSecret = []byte("test-signing-secret-0123456789abcdef")
	}
	if opts.BootstrapAdmin == nil && opts.Authenticator == nil {
		opts.BootstrapAdmin = &httpapi.BootstrapAdmin{Username: "admin", Password: "admin-password"}
	}
	e := serveEnv(t, svc, rdb, opts, func() {
		cancel()
		<-done
	})
	if opts.Authenticator == nil {
		base := e.srv.URL + opts.Prefix
		tok, err := client.New(base).Login(context.Background(), "admin", "admin-password")
		require.NoError(t, err)
		e.loadDoc(client.New(base, client.WithToken(tok.Token)), opts.Prefix)
	}
	return e
}

// serveEnv serves svc's API (httpapi.New with opts) on a test server. At
// the test's end it closes the server, calls stop (when not nil: the
// workers' end), closes svc and fails the test on any response that broke
// the OpenAPI document (once loadDoc has loaded it).
func serveEnv(t testing.TB, svc *solvekit.Service, rdb *redis.Client, opts httpapi.Options, stop func()) *env {
	t.Helper()
	h, err := httpapi.New(svc, opts)
	require.NoError(t, err)
	e := &env{t: t, svc: svc, rdb: rdb, h: h, users: map[string]*actor{}}
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		e.srv.Close()
		if stop != nil {
			stop()
		}
		require.NoError(t, svc.Close())
		e.mu.Lock()
		defer e.mu.Unlock()
		require.Empty(t, e.problems, "responses that break the OpenAPI document")
		t.Logf("%d responses checked against the OpenAPI document", e.checked)
	})
	e.anon = client.New(e.srv.URL+opts.Prefix, client.WithHTTPClient(&http.Client{Transport: &validating{e: e}}))
	return e
}

// plannerEnv is newEnv with a user "planner" (role planner) and the
// bootstrap admin, both signed in.
func plannerEnv(t testing.TB, o envOpts) (e *env, planner, admin *actor) {
	e = newEnv(t, o)
	return e, e.addUser("planner", api.RolePlanner), e.admin()
}

// loadDoc fetches the OpenAPI document with c (a client of the API under
// prefix), validates it, and from then on checks every response against
// it.
func (e *env) loadDoc(c *client.Client, prefix string) {
	t := e.t
	raw, err := c.OpenAPI(context.Background())
	require.NoError(t, err)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context), "OpenAPI document is invalid")
	require.True(t, doc.IsOpenAPI31OrLater())
	doc.Servers = openapi3.Servers{{URL: e.srv.URL + prefix}}
	r, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	e.mu.Lock()
	e.doc, e.rt = doc, r
	e.mu.Unlock()
}

// validating is an http.RoundTripper that checks each response against
// the OpenAPI document.
type validating struct{ e *env }

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	e := v.e
	var body []byte
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err := e.checkResponse(req, resp.StatusCode, resp.Header, body); err != nil {
		e.problem("%v", err)
	}
	return resp, nil
}

// checkResponse validates one response against the OpenAPI document: its
// status must be documented for the route (a 4xx one
// explicitly, not through "default") and its JSON body must match the
// schema. A request that matches no documented route must have got 404 or
// 405. It returns nil before the document is loaded.
func (e *env) checkResponse(req *http.Request, status int, header http.Header, body []byte) error {
	e.mu.Lock()
	rt := e.rt
	e.mu.Unlock()
	if rt == nil {
		return nil
	}
	route, params, ferr := rt.FindRoute(req)
	if ferr != nil {
		if status != 404 && status != 405 {
			return fmt.Errorf("%s %s → %d: no documented route: %v", req.Method, req.URL.Path, status, ferr)
		}
		return nil
	}
	// An error the route can answer is listed for it, not left to
	// "default" (which stands for server errors).
	if status >= 400 && status < 500 && route.Operation.Responses.Value(strconv.Itoa(status)) == nil {
		return fmt.Errorf("%s %s → %d: status not listed in the operation's responses", req.Method, req.URL.Path, status)
	}
	ct := header.Get("Content-Type")
	opts := &openapi3filter.Options{IncludeResponseStatus: true}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status, Header: header, Options: opts,
	}
	if strings.HasPrefix(ct, "text/event-stream") || !strings.Contains(ct, "json") {
		opts.ExcludeResponseBody = true
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s → %d: %v", req.Method, req.URL.Path, status, err)
	}
	e.mu.Lock()
	e.checked++
	e.mu.Unlock()
	return nil
}

func (e *env) problem(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.problems) < 50 {
		e.problems = append(e.problems, fmt.Sprintf(format, args...))
	}
}

// client returns a validating client with a token.
func (e *env) client(opts ...client.Option) *client.Client {
	return e.anon.With(opts...)
}

// addUser creates a user through the API (as admin) and logs it in.
func (e *env) addUser(name string, role api.Role) *actor {
	t := e.t
	ctx := context.Background()
	admin := e.admin()
	a := &actor{name: name, username: name, password: name + "-password"}
	if name != "admin" {
		u, err := admin.c.CreateUser(ctx, api.UserCreate{Username: a.username, Password: a.password, Role: role})
		require.NoError(t, err)
		a.user = u
	}
	e.login(a)
	e.users[name] = a
	return a
}

func (e *env) login(a *actor) {
	tok, err := e.anon.Login(context.Background(), a.username, a.password)
	require.NoError(e.t, err)
	a.user = tok.User
	a.c = e.client(client.WithToken(tok.Token))
}

func (e *env) admin() *actor {
	if a := e.users["admin"]; a != nil {
		return a
	}
	a := &actor{name: "admin", username: "admin", password: "admin-password"}
	e.login(a)
	e.users["admin"] = a
	return a
}

// raw sends a request with the validating transport and returns status,
// content type and body.
func (e *env) raw(method, path string, body io.Reader, hdr http.Header) (int, string, []byte) {
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(e.t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: &validating{e: e}}).Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// problemOf checks that an answer is a problem document (its content type
// ctype) and decodes body; msgAndArgs name the case.
func problemOf(t testing.TB, ctype string, body []byte, msgAndArgs ...any) api.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", ctype, msgAndArgs...)
	var p api.Problem
	require.NoError(t, json.Unmarshal(body, &p), msgAndArgs...)
	return p
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func captureLogger(b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{b: b}, nil))
}

type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return strings.Trim(strings.TrimSpace(v), `"`)
}

func serve(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// redisOf returns a service's Redis client, for tests that look into it.
func redisOf(svc *solvekit.Service) redis.UniversalClient {
	rdb, _ := serviceredis.Of(svc)
	return rdb
}

// usersOf returns the built-in user store of a service's handler.
func usersOf(svc *solvekit.Service) *users.Store {
	rdb, prefix := serviceredis.Of(svc)
	return users.New(rdb, prefix)
}
