package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// hostEnv is an env whose requests a host Authenticator lets in as an
// admin, so that a test sees what the routes answer, not what the built-in
// authentication does. Its responses are checked against the OpenAPI
// document as newEnv's are.
func hostEnv(t *testing.T, rdb *redis.Client, defs ...*job.Definition) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: logger})
	require.NoError(t, err)
	require.NoError(t, svc.Register(append([]*job.Definition{sumJob(), echoJob()}, defs...)...))
	admin := httpapi.AuthenticatorFunc(func(*http.Request) (*httpapi.Principal, error) {
		return &httpapi.Principal{ID: "host-admin", Role: api.RoleAdmin, Source: "host"}, nil
	})
	e := serveEnv(t, svc, rdb, httpapi.Options{Authenticator: admin, DisableBuiltinAuth: true, Logger: logger}, nil)
	e.loadDoc(client.New(e.srv.URL), "")
	return e
}

// TestRedisDownAnswers503: with Redis stopped, requests answer 503
// problem+json with code unavailable and a Retry-After header (not 500
// "internal error"), as the OpenAPI document says.
func TestRedisDownAnswers503(t *testing.T) {
	// A small pool stops dialling (and logging each failure) after a few
	// failed dials, until a background probe reaches the server again.
	rdb, stop := redistest.Stoppable(t, 4)
	e := hostEnv(t, rdb)
	submit := `{"job_type":"sum","instance":{"values":[1,2]}}`
	status, _, body := e.raw("POST", "/executions", strings.NewReader(submit), http.Header{"Content-Type": {"application/json"}})
	require.Equal(t, 201, status, "%s", body)
	var created api.Execution
	require.NoError(t, json.Unmarshal(body, &created))

	stop()
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/executions", submit},
		{"GET", "/executions/" + created.ID, ""},
		{"GET", "/executions", ""},
		{"GET", "/status", ""},
		{"PUT", "/executions/" + created.ID + "/status", `{"state":"stopped"}`},
	} {
		var rd io.Reader
		hdr := http.Header{}
		if req.body != "" {
			rd = strings.NewReader(req.body)
			hdr.Set("Content-Type", "application/json")
		}
		r, err := http.NewRequest(req.method, e.srv.URL+req.path, rd)
		require.NoError(t, err)
		r.Header = hdr
		resp, err := (&http.Client{Transport: &validating{e: e}}).Do(r)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s %s: %s", req.method, req.path, b)
		require.Equal(t, "2", resp.Header.Get("Retry-After"), "%s %s", req.method, req.path)
		p := problemOf(t, resp.Header.Get("Content-Type"), b)
		require.Equal(t, "unavailable", p.Code, "%s %s", req.method, req.path)
		require.NotContains(t, p.Detail, "redis.sock", "no addresses in the answer")
	}
}

// TestSubmitOutcomeUnknownAnswers504: when the connection to Redis breaks
// after POST /executions sent the execution, the answer is 504 with code
// outcome_unknown naming the execution, which exists.
func TestSubmitOutcomeUnknownAnswers504(t *testing.T) {
	rdb := redistest.Client(t)
	f := &redistest.Faults{Only: redistest.WritesInput}
	rdb.AddHook(f)
	e := hostEnv(t, rdb)
	f.RefuseAfterLoss.Store(-1)
	f.Lose.Store(true)
	status, ct, body := e.raw("POST", "/executions", strings.NewReader(`{"job_type":"sum","instance":{"values":[1]}}`),
		http.Header{"Content-Type": {"application/json"}})
	require.Equal(t, http.StatusGatewayTimeout, status, "%s", body)
	p := problemOf(t, ct, body)
	require.Equal(t, "outcome_unknown", p.Code)
	f.Refuse.Store(0)
	list, _, err := e.svc.List(context.Background(), solvekit.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list, 1, "the execution was created")
	require.Contains(t, p.Detail, list[0].ID, "the answer names it")
}

type typedValues struct {
	Values []float64 `json:"values" validate:"min=1"`
}

// TestTypedInputRefused422: POST /executions of a typed job whose instance
// breaks its `validate:` tags or does not decode answers 422 with pointers
// into the request body, and stores nothing.
func TestTypedInputRefused422(t *testing.T) {
	typed := job.AsyncOf("typed", func(ctx context.Context, jc *job.Context, in typedValues) (float64, error) {
		return float64(len(in.Values)), nil
	})
	e := hostEnv(t, redistest.Client(t), typed)
	for body, want := range map[string]job.Violation{
		`{"job_type":"typed","instance":{"values":[]}}`:      {Pointer: "/instance/values", Keyword: "min"},
		`{"job_type":"typed","instance":{"values":[1,"x"]}}`: {Pointer: "/instance/values/1", Keyword: "type"},
	} {
		status, ct, b := e.raw("POST", "/executions", strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		require.Equal(t, http.StatusUnprocessableEntity, status, "%s", b)
		p := problemOf(t, ct, b)
		require.Equal(t, "invalid", p.Code)
		require.Len(t, p.Errors, 1, "%s", b)
		require.Equal(t, want.Pointer, p.Errors[0].Pointer)
		require.Equal(t, want.Keyword, p.Errors[0].Keyword)
	}
	_, total, err := e.svc.List(context.Background(), solvekit.ListOptions{})
	require.NoError(t, err)
	require.Zero(t, total, "nothing stored")
}
