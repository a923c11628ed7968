package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestBadInput: malformed, mistyped, unknown, invalid, oversized and
// unknown-id requests get problem+json with the right status (and
// pointers for validation failures), and nothing is stored.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	p := e.addUser("planner", httpapi.RolePlanner)
	a := e.admin()
	tok, err := e.anon.Login(ctx, "planner", "planner-password")
	require.NoError(t, err)
	ex, err := p.c.CreateExecution(ctx, httpapi.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	big := `{"job_type":"sum","instance":{"values":[` + strings.Repeat("1,", 600000) + `1]}}`
	const unknownID = "0190a4d2-7a52-7c2e-8000-000000000000"
	cases := []struct {
		name, method, path, body string
		ct                       string
		status                   int
		pointers                 []string
	}{
		{"malformed JSON", "POST", "/executions", `{"job_type":`, "", 400, nil},
		{"not an object", "POST", "/executions", `[1,2]`, "", 400, nil},
		{"trailing data", "POST", "/executions", `{"job_type":"sum"} {}`, "", 400, nil},
		{"empty body", "POST", "/executions", ``, "", 400, nil},
		{"wrong type", "POST", "/executions", `{"job_type":5}`, "", 400, []string{"/job_type"}},
		{"wrong nested type", "POST", "/executions", `{"job_type":"sum","metadata":{"a":1}}`, "", 400, []string{"/metadata"}},
		{"unknown field", "POST", "/executions", `{"job_type":"sum","instance":{"values":[1]},"colour":"red"}`, "", 400, []string{"/colour"}},
		{"missing job type", "POST", "/executions", `{"instance":{}}`, "", 422, []string{"/job_type"}},
		{"unknown job type", "POST", "/executions", `{"job_type":"nope","instance":{}}`, "", 422, []string{"/job_type"}},
		{"schema violation", "POST", "/executions", `{"job_type":"sum","instance":{"values":[1,-2,"x"]},"config":{"scale":"big"}}`, "", 422,
			[]string{"/instance/values/1", "/instance/values/2", "/config/scale"}},
		{"missing instance", "POST", "/executions", `{"job_type":"sum"}`, "", 422, []string{"/instance"}},
		{"unknown instance id", "POST", "/executions", `{"job_type":"sum","instance_id":"` + unknownID + `"}`, "", 422, []string{"/instance_id"}},
		{"bad wait", "POST", "/executions?wait=forever", `{"job_type":"echo","instance":{}}`, "", 400, []string{"?wait"}},
		{"wrong content type", "POST", "/executions", `job_type=sum`, "application/x-www-form-urlencoded", 415, nil},
		{"oversized", "POST", "/executions", big, "", 413, nil},
		{"instance schema violation", "POST", "/instances", `{"job_type":"sum","data":{"values":"no"}}`, "", 422, []string{"/data/values"}},
		{"instance without data", "POST", "/instances", `{"name":"x"}`, "", 422, []string{"/data"}},
		{"instance unknown field", "POST", "/instances", `{"data":{},"owner":"me"}`, "", 400, []string{"/owner"}},
		{"bad upload type", "POST", "/instances", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.exe\"\r\n\r\nMZ\r\n--b--\r\n", "multipart/form-data; boundary=b", 422, []string{"/file"}},
		{"stop with bad state", "PUT", "/executions/" + ex.ID + "/status", `{"state":"running"}`, "", 422, []string{"/state"}},
		{"bad update mask", "PATCH", "/executions/" + ex.ID + "?update_mask=state", `{"name":"x"}`, "", 400, []string{"?update_mask"}},
		{"bad limit", "GET", "/executions?limit=0", "", "", 400, []string{"?limit"}},
		{"limit too big", "GET", "/executions?limit=1001", "", "", 400, []string{"?limit"}},
		{"negative offset", "GET", "/instances?offset=-1", "", "", 400, []string{"?offset"}},
		{"non-numeric limit", "GET", "/jobTypes?limit=ten", "", "", 400, []string{"?limit"}},
		{"bad status filter", "GET", "/executions?status=done", "", "", 400, []string{"?status"}},
		{"bad created filter", "GET", "/executions?created_after=yesterday", "", "", 400, []string{"?created_after"}},
		{"unknown execution", "GET", "/executions/" + unknownID, "", "", 404, nil},
		{"malformed execution id", "GET", "/executions/not-an-id", "", "", 404, nil},
		{"unknown instance", "GET", "/instances/" + unknownID, "", "", 404, nil},
		{"unknown job type detail", "GET", "/jobTypes/nope", "", "", 404, nil},
		{"unknown file", "GET", "/executions/" + ex.ID + "/files/none.txt", "", "", 404, nil},
		{"unknown route", "GET", "/nothing", "", "", 404, nil},
		{"wrong method", "DELETE", "/jobTypes", "", "", 405, nil},
		{"delete running", "DELETE", "/executions/" + unknownID, "", "", 404, nil},
	}
	before := storedCounts(t, e)
	for _, c := range cases {
		hdr := http.Header{"Authorization": {"Bearer " + tok.Token}}
		ct := c.ct
		if ct == "" && c.body != "" {
			ct = "application/json"
		}
		if ct != "" {
			hdr.Set("Content-Type", ct)
		}
		status, ctype, b := e.raw(c.method, c.path, strings.NewReader(c.body), hdr)
		require.Equal(t, c.status, status, "%s: %s", c.name, b)
		require.Equal(t, "application/problem+json", ctype, c.name)
		var prob httpapi.Problem
		require.NoError(t, json.Unmarshal(b, &prob), c.name)
		require.Equal(t, c.status, prob.Status, c.name)
		require.NotEmpty(t, prob.Title, c.name)
		require.NotEmpty(t, prob.Type, c.name)
		var got []string
		for _, v := range prob.Errors {
			got = append(got, v.Pointer)
			require.NotEmpty(t, v.Message, c.name)
		}
		for _, want := range c.pointers {
			require.Contains(t, got, want, "%s: %s", c.name, b)
		}
	}
	require.Equal(t, before, storedCounts(t, e), "bad input stored something")

	// admin-side bad input
	hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "admin")}, "Content-Type": {"application/json"}}
	status, _, _ := e.raw("DELETE", "/executions?finished_before=last-week", nil, hdr)
	require.Equal(t, 400, status)
	status, _, b := e.raw("POST", "/users", strings.NewReader(`{"username":"x y","password":"long-enough","role":"viewer"}`), hdr)
	require.Equal(t, 422, status, "%s", b)
	status, _, b = e.raw("POST", "/users", strings.NewReader(`{"username":"xy","password":"short","role":"boss"}`), hdr)
	require.Equal(t, 422, status, "%s", b)
	require.Contains(t, string(b), `"/password"`)
	require.Contains(t, string(b), `"/role"`)
	status, _, _ = e.raw("POST", "/queues/nope/pause", nil, hdr)
	require.Equal(t, 404, status)
	_ = a
	require.Equal(t, before, storedCounts(t, e), "bad input stored something")
}

func mustLogin(t testing.TB, e *env, name string) string {
	a := e.users[name]
	tok, err := e.anon.Login(context.Background(), a.username, a.password)
	require.NoError(t, err)
	return tok.Token
}

// storedCounts counts executions, instances and users.
func storedCounts(t *testing.T, e *env) [3]int64 {
	ctx := context.Background()
	counts, err := e.svc.Counts(ctx)
	require.NoError(t, err)
	var n int64
	for _, st := range job.States {
		n += counts[st]
	}
	_, ni, err := e.svc.Store().ListInstances(ctx, "", struct{ Limit, Offset int }{1, 0})
	require.NoError(t, err)
	nu, err := e.svc.Store().Users().CountUsers(ctx)
	require.NoError(t, err)
	return [3]int64{n, ni, nu}
}
