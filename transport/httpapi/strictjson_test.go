package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestStrictJSONBodies: every JSON body of the API refuses invalid UTF-8
// (also inside free-form documents such as instance data, config and
// metadata values), unpaired surrogate escapes, and field names that are
// unknown or differ in case from the documented ones, with 400 and
// nothing stored. Keys inside free-form documents are user data. The table
// must name every route whose OpenAPI operation takes a JSON body.
func TestStrictJSONBodies(t *testing.T) {
	e, p, a := plannerEnv(t, envOpts{opts: httpapi.Options{AllowSignup: true}})
	ctx := context.Background()
	v := e.addUser("victim", api.RoleViewer)
	ex, err := a.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{"v":1}`)}, 0)
	require.NoError(t, err)
	in, err := a.c.CreateInstance(ctx, api.InstanceCreate{JobType: "sum", Data: json.RawMessage(`{"values":[1]}`)})
	require.NoError(t, err)
	off := false // a disabled schedule creates no executions meanwhile
	sc, err := a.c.CreateSchedule(ctx, api.ScheduleCreate{Cron: "@hourly", JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), Enabled: &off})
	require.NoError(t, err)
	_ = p

	type variant struct {
		name, body string
		pointer    string // a pointer the problem must list ("" for none)
	}
	// Each route: a concrete path, and bodies that must get 400. The
	// first variant of each route upper-cases a documented field name;
	// the second puts a 0xFF byte into a string.
	routes := []struct {
		route, path string
		bad         []variant
	}{
		{"POST /login", "/login", []variant{
			{"cased", `{"USERNAME":"admin","password":"admin-password"}`, "/USERNAME"},
			{"utf8", "{\"username\":\"admin\",\"password\":\"admin-\xffpassword\"}", ""},
		}},
		{"POST /signup", "/signup", []variant{
			{"cased", `{"username":"newbie","Password":"long-enough"}`, "/Password"},
			{"utf8", "{\"username\":\"new\xffbie\",\"password\":\"long-enough\"}", ""},
		}},
		{"PUT /user/password", "/user/password", []variant{
			{"cased", `{"current_password":"admin-password","New_Password":"admin-password"}`, "/New_Password"},
			{"utf8", "{\"current_password\":\"admin-password\",\"new_password\":\"admin-pass\xffword\"}", ""},
		}},
		{"POST /users", "/users", []variant{
			{"cased", `{"username":"u1","password":"long-enough","ROLE":"admin"}`, "/ROLE"},
			{"utf8", "{\"username\":\"u\xff1\",\"password\":\"long-enough\",\"role\":\"viewer\"}", ""},
			{"duplicate", `{"username":"u1","password":"long-enough","role":"viewer","role":"admin"}`, "/role"},
		}},
		{"PATCH /users/{id}", "/users/" + v.user.ID, []variant{
			{"cased", `{"Role":"admin"}`, "/Role"},
			{"utf8", "{\"email\":\"x\xff@example.com\"}", ""},
		}},
		{"POST /apiKeys", "/apiKeys", []variant{
			{"cased", `{"Name":"k"}`, "/Name"},
			{"utf8", "{\"name\":\"k\xff\"}", ""},
		}},
		{"PATCH /jobTypes/{name}", "/jobTypes/echo?update_mask=is_paused", []variant{
			{"cased", `{"IS_PAUSED":true}`, "/IS_PAUSED"},
			{"utf8", "{\"is_paused\":false,\"x\":\"\xff\"}", ""},
		}},
		{"POST /instances", "/instances", []variant{
			{"cased", `{"job_type":"sum","Data":{"values":[1]}}`, "/Data"},
			{"utf8 in data", "{\"data\":{\"k\":\"\xff\"}}", ""},
			{"utf8 in a data key", "{\"data\":{\"k\xff\":1}}", ""},
			{"surrogate in data", `{"data":{"k":"\ud800"}}`, ""},
			{"lone low surrogate in data", `{"data":{"k":"a\udc00"}}`, ""},
			{"utf8 in metadata value", "{\"data\":{},\"metadata\":{\"k\":\"\xfe\"}}", ""},
		}},
		{"PATCH /instances/{id}", "/instances/" + in.ID, []variant{
			{"cased", `{"NAME":"n"}`, "/NAME"},
			{"utf8", "{\"description\":\"\xc3\x28\"}", ""},
		}},
		{"POST /instances/{id}/checks", "/instances/" + in.ID + "/checks", []variant{
			{"cased", `{"Job_Type":"sum"}`, "/Job_Type"},
			{"utf8", "{\"job_type\":\"s\xffum\"}", ""},
		}},
		{"POST /executions:batch", "/executions:batch", []variant{
			{"cased", `{"EXECUTIONS":[{"job_type":"echo","instance":{"x":1}}]}`, "/EXECUTIONS"},
			{"cased item", `{"executions":[{"JOB_TYPE":"echo","instance":{"x":1}}]}`, "/executions/0/JOB_TYPE"},
			{"utf8 in instance", "{\"executions\":[{\"job_type\":\"echo\",\"instance\":{\"x\":\"\xff\"}}]}", ""},
		}},
		{"POST /executions", "/executions", []variant{
			{"cased", `{"JOB_TYPE":"echo","instance":{"x":1}}`, "/JOB_TYPE"},
			{"utf8 in instance", "{\"job_type\":\"echo\",\"instance\":{\"x\":\"\xff\"}}", ""},
			{"utf8 in config", "{\"job_type\":\"sum\",\"instance\":{\"values\":[1]},\"config\":{\"note\":\"\xff\"}}", ""},
			{"utf8 in metadata", "{\"job_type\":\"echo\",\"instance\":{},\"metadata\":{\"team\":\"\xff\"}}", ""},
			{"surrogate in instance", `{"job_type":"echo","instance":{"x":"\udbff"}}`, ""},
			{"cased metadata object", `{"job_type":"echo","instance":{},"Metadata":{"a":"b"}}`, "/Metadata"},
		}},
		{"PATCH /executions/{id}", "/executions/" + ex.ID, []variant{
			{"cased", `{"Name":"n"}`, "/Name"},
			{"utf8", "{\"metadata\":{\"a\":\"\xff\"}}", ""},
		}},
		{"PUT /executions/{id}/status", "/executions/" + ex.ID + "/status", []variant{
			{"cased", `{"State":"stopped"}`, "/State"},
			{"utf8", "{\"state\":\"stopped\xff\"}", ""},
		}},
		{"POST /executions/{id}/relaunch", "/executions/" + ex.ID + "/relaunch", []variant{
			{"cased", `{"CONFIG":{}}`, "/CONFIG"},
			{"utf8 in config", "{\"config\":{\"a\":\"\xff\"}}", ""},
		}},
		{"POST /tags", "/tags", []variant{
			{"cased", `{"TAG":"t","execution_ids":[]}`, "/TAG"},
			{"utf8", "{\"tag\":\"t\xff\"}", ""},
		}},
		{"POST /schedules", "/schedules", []variant{
			{"cased", `{"CRON":"@hourly","job_type":"sum","instance":{"values":[1]}}`, "/CRON"},
			{"utf8 in instance", "{\"cron\":\"@hourly\",\"job_type\":\"sum\",\"instance\":{\"values\":[1],\"k\":\"\xff\"}}", ""},
		}},
		{"PATCH /schedules/{id}", "/schedules/" + sc.ID, []variant{
			{"cased", `{"Enabled":true}`, "/Enabled"},
			{"utf8", "{\"name\":\"n\xff\"}", ""},
		}},
		{"POST /instanceSets", "/instanceSets", []variant{
			{"cased", `{"NAME":"s","instance_ids":["` + in.ID + `"]}`, "/NAME"},
			{"utf8", "{\"name\":\"s\xff\",\"instance_ids\":[]}", ""},
		}},
		{"POST /experiments", "/experiments", []variant{
			{"cased", `{"JOB_TYPE":"echo","instance_set_id":"x","variants":[{"label":"a"}]}`, "/JOB_TYPE"},
			{"utf8 in config", "{\"job_type\":\"echo\",\"instance_set_id\":\"x\",\"variants\":[{\"label\":\"a\",\"config\":{\"k\":\"\xff\"}}]}", ""},
		}},
		{"PATCH /experiments/{id}", "/experiments/" + sc.ID, []variant{
			{"cased", `{"Baseline":true}`, "/Baseline"},
			{"utf8", "{\"baseline\":true,\"x\":\"\xff\"}", ""},
		}},
	}

	// The table covers every operation with a JSON request body.
	var documented, covered []string
	for path, item := range e.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value.Content.Get("application/json") != nil {
				documented = append(documented, method+" "+path)
			}
		}
	}
	for _, r := range routes {
		covered = append(covered, r.route)
	}
	sort.Strings(documented)
	sort.Strings(covered)
	require.Equal(t, documented, covered, "every JSON-body route needs a row")

	before := storedCounts(t, e)
	for _, r := range routes {
		method, _, _ := strings.Cut(r.route, " ")
		for _, c := range r.bad {
			t.Run(r.route+" "+c.name, func(t *testing.T) {
				hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "admin")}, "Content-Type": {"application/json"}}
				status, ctype, b := e.raw(method, r.path, strings.NewReader(c.body), hdr)
				require.Equal(t, 400, status, "%s", b)
				prob := problemOf(t, ctype, b)
				if c.pointer != "" {
					require.NotEmpty(t, prob.Errors, "%s", b)
					require.Equal(t, c.pointer, prob.Errors[0].Pointer, "%s", b)
				}
			})
		}
	}
	require.Equal(t, before, storedCounts(t, e), "a refused body stored something")
	jt, err := a.c.GetJobType(ctx, "echo")
	require.NoError(t, err)
	require.False(t, jt.IsPaused)
	_, err = e.anon.Login(ctx, "newbie", "long-enough")
	require.Error(t, err, "the refused signup created no account")

	// Keys inside free-form documents are the user's: any case, kept as sent.
	hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "admin")}, "Content-Type": {"application/json"}}
	status, _, b := e.raw("POST", "/executions", strings.NewReader(`{"job_type":"echo","instance":{"KEY":1,"key":"é"},"metadata":{"Team":"a"}}`), hdr)
	require.Equal(t, 201, status, "%s", b)
	var got api.Execution
	require.NoError(t, json.Unmarshal(b, &got))
	require.JSONEq(t, `{"KEY":1,"key":"é"}`, string(got.Solution))
	require.Equal(t, map[string]string{"Team": "a"}, got.Metadata)
	// A surrogate pair is a valid escape.
	status, _, b = e.raw("POST", "/instances", strings.NewReader(`{"data":{"k":"\ud83d\ude00","\\ud800":"escaped backslash, not an escape"}}`), hdr)
	require.Equal(t, 201, status, "%s", b)

	// Multipart instance uploads: text fields and files are checked too.
	form := func(field, filename, content string) (*bytes.Buffer, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if filename != "" {
			fw, _ := mw.CreateFormFile(field, filename)
			fw.Write([]byte(content))
		} else {
			mw.WriteField(field, content)
			fw, _ := mw.CreateFormFile("file", "m.json")
			fw.Write([]byte(`{}`))
		}
		mw.Close()
		return &buf, mw.FormDataContentType()
	}
	before = storedCounts(t, e)
	for _, c := range []struct{ field, filename, content string }{
		{"name", "", "bad \xff name"},
		{"description", "", "\xff"},
		{"metadata", "", "{\"a\":\"\xff\"}"},
		{"metadata", "", `{"a":"\udc00"}`},
		{"file", "m.json", "{\"a\":\"\xff\"}"},
		{"file", "m.json", `{"a":"\ud800"}`},
		{"file", "m.lp", "max: x\xff;"},
		{"file", "m.mps", "NAME \xfe\n"},
	} {
		body, ct := form(c.field, c.filename, c.content)
		hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "admin")}, "Content-Type": {ct}}
		status, _, b := e.raw("POST", "/instances", body, hdr)
		require.Equal(t, 400, status, "%s %q: %s", c.field, c.content, b)
	}
	require.Equal(t, before, storedCounts(t, e), "a refused upload stored something")
}

// TestBadInput: malformed, mistyped, unknown, invalid, oversized and
// unknown-id requests get problem+json with the right status (and
// pointers for validation failures), and nothing is stored.
func TestBadInput(t *testing.T) {
	e, p, a := plannerEnv(t, envOpts{})
	ctx := context.Background()
	tok, err := e.anon.Login(ctx, "planner", "planner-password")
	require.NoError(t, err)
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`)}, 0)
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
		prob := problemOf(t, ctype, b, c.name)
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
	_, ni, err := e.svc.ListInstances(ctx, solvekit.InstanceFilter{Limit: 1})
	require.NoError(t, err)
	nu, err := usersOf(e.svc).CountUsers(ctx)
	require.NoError(t, err)
	return [3]int64{n, ni, nu}
}
