package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestListPassingStates: ?status= takes every documented state; "lost"
// and "invalid", which no record rests in, match nothing.
func TestListPassingStates(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := e.admin()
	_, err := a.c.CreateExecution(t.Context(), api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "admin")}}
	for _, st := range []string{"lost", "invalid"} {
		status, _, b := e.raw("GET", "/executions?status="+st, nil, hdr)
		require.Equal(t, 200, status, "%s: %s", st, b)
		var l api.ExecutionList
		require.NoError(t, json.Unmarshal(b, &l))
		require.Empty(t, l.Executions)
		require.Zero(t, l.TotalEntries)
	}
	status, _, b := e.raw("GET", "/executions?status=succeeded", nil, hdr)
	require.Equal(t, 200, status)
	require.Contains(t, string(b), `"total_entries":1`)
	status, _, _ = e.raw("GET", "/executions?status=done", nil, hdr)
	require.Equal(t, 400, status)
}

// TestErrorResponsesListed: every operation lists the errors it can
// answer, each with the problem schema: 401 and 403 where credentials are
// needed, 404 under a path parameter, 400/413/415/422 with a body. (The
// harness also fails any test that gets a 4xx its operation does not
// list.)
func TestErrorResponsesListed(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{AllowSignup: true}})
	n := 0
	for path, item := range e.doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			want := []int{}
			if op.Security == nil || len(*op.Security) > 0 {
				want = append(want, 401, 403)
			}
			if strings.Contains(path, "{") {
				want = append(want, 404)
			}
			if op.RequestBody != nil {
				want = append(want, 400, 413, 415, 422)
			}
			switch name {
			case "POST /login":
				want = append(want, 401, 429)
			case "POST /signup", "POST /users", "DELETE /executions/{id}", "PUT /executions/{id}/status", "POST /executions/{id}/relaunch":
				want = append(want, 409)
			case "POST /executions":
				want = append(want, 503)
			}
			for _, st := range want {
				r := op.Responses.Value(strconv.Itoa(st))
				require.NotNil(t, r, "%s does not list %d", name, st)
				require.NotNil(t, r.Value.Content.Get("application/problem+json"), "%s %d", name, st)
				n++
			}
		}
	}
	require.Greater(t, n, 100)
}

// TestInstanceCheckFindingsAreViolations: a failed instance check puts its
// error-level findings in violations (typed, with the finding's pointer
// and the check's name as keyword), both in POST /instances/{id}/checks
// and in the error of an execution it fails; warnings stay in checks.
func TestInstanceCheckFindingsAreViolations(t *testing.T) {
	e := newEnv(t, envOpts{})
	app := &solver.App{Name: "checked",
		Solvers: map[string]solver.Solver{"s": solver.SolverFunc(func(context.Context, *solver.Input) (*job.Result, error) {
			return &job.Result{Solution: map[string]int{}}, nil
		})},
		InstanceChecks: []solver.Check{
			{Name: "positive", Func: func(context.Context, json.RawMessage, json.RawMessage) ([]job.CheckResult, error) {
				return []job.CheckResult{{Message: "x must be positive", Pointer: "/x"}}, nil
			}},
			{Name: "small", Warning: true, Func: func(context.Context, json.RawMessage, json.RawMessage) ([]job.CheckResult, error) {
				return []job.CheckResult{{Message: "x is small", Pointer: "/x"}}, nil
			}},
		}}
	require.NoError(t, e.svc.Register(app.Definition()))
	a := e.admin()
	ctx := t.Context()
	in, err := a.c.CreateInstance(ctx, api.InstanceCreate{JobType: "checked", Data: json.RawMessage(`{"x":-1}`)})
	require.NoError(t, err)
	rep, err := a.c.CheckInstance(ctx, in.ID, api.CheckRequest{})
	require.NoError(t, err)
	require.False(t, rep.Valid)
	require.Equal(t, []job.Violation{{Pointer: "/x", Keyword: "positive", Message: "x must be positive"}}, rep.Violations)
	require.Len(t, rep.Checks, 2)

	ex, err := a.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "checked", InstanceID: in.ID}, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, job.StateFailed, ex.State)
	require.NotNil(t, ex.Error)
	require.Equal(t, "instance checks failed", ex.Error.Message)
	require.Equal(t, []job.Violation{{Pointer: "/x", Keyword: "positive", Message: "x must be positive"}}, ex.Error.Violations)
}

// TestProblemSchemaDescribed: the problem component (api.Problem, the wire
// type shared with the client) keeps its description in the document.
func TestProblemSchemaDescribed(t *testing.T) {
	e := newEnv(t, envOpts{})
	s := e.doc.Components.Schemas["Problem"]
	require.NotNil(t, s)
	require.Equal(t, "RFC 9457 problem details", s.Value.Description)
}

// TestCallbacksDocumented: the OpenAPI document describes GET
// /executions/{id}/callbacks with its attempts, result_url on the create
// body, and the callback summary on the execution.
func TestCallbacksDocumented(t *testing.T) {
	e := newEnv(t, envOpts{})
	item := e.doc.Paths.Find("/executions/{id}/callbacks")
	require.NotNil(t, item, "route documented")
	require.NotNil(t, item.Get)
	require.Equal(t, "listExecutionCallbacks", item.Get.OperationID)
	resp := item.Get.Responses.Value("200")
	require.NotNil(t, resp)
	schema := resp.Value.Content.Get("application/json").Schema
	require.NotNil(t, schema)
	b, err := schema.MarshalJSON()
	require.NoError(t, err)
	doc, err := e.doc.MarshalJSON()
	require.NoError(t, err)
	s := string(b) + string(doc)
	for _, want := range []string{"attempts", "status_code", "duration_ms", "delivery", "result_url", "callback_state", "callback_attempts"} {
		require.Contains(t, s, want)
	}
}
