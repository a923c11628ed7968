package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// actors of the matrix, in column order.
var actors = []string{"anonymous", "viewer", "owner", "other", "admin", "service", "jobkey"}

// fixture is what one matrix cell works on: objects of planner "owner".
type fixture struct {
	exec, execKey string // a finished execution and its job key
	slow, slowKey string // a running execution (for stop) and its key
	inst          string
	user          string // a throwaway user
	apiKey        string // an API key of owner
}

type cell struct {
	method, path string
	body         func(f *fixture, actor string) (io.Reader, string)
	// slow: the cell needs the running execution (path uses {slow}).
	slow bool
	// relogin: the cell invalidates the actor's token.
	relogin bool
	want    [7]int
}

func jsonBody(v any) func(*fixture, string) (io.Reader, string) {
	return func(*fixture, string) (io.Reader, string) {
		b, _ := json.Marshal(v)
		return bytes.NewReader(b), "application/json"
	}
}

func fileBody(field, name, content string) func(*fixture, string) (io.Reader, string) {
	return func(*fixture, string) (io.Reader, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile(field, name)
		fw.Write([]byte(content))
		mw.Close()
		return &buf, mw.FormDataContentType()
	}
}

const (
	A = 401 // anonymous
	F = 403
	N = 404
)

func matrixCells() []cell {
	read := [7]int{A, 200, 200, N, 200, 200, 200}     // read an owned execution; job key ok
	readNoKey := [7]int{A, 200, 200, N, 200, 200, F}  // read an owned instance
	write := [7]int{A, F, 200, N, 200, 200, F}        // change an owned object
	del := [7]int{A, F, 204, N, 204, 204, F}          // delete an owned object
	list := [7]int{A, 200, 200, 200, 200, 200, F}     // read a collection
	create := [7]int{A, F, 201, 201, 201, 201, F}     // create
	adminOnly := [7]int{A, F, F, F, 200, F, F}        // admin
	ops := [7]int{A, F, F, F, 200, 200, F}            // admin and service
	anyUser := [7]int{A, 200, 200, 200, 200, 200, F}  // any account
	open := [7]int{200, 200, 200, 200, 200, 200, 200} // no credentials
	return []cell{
		{method: "GET", path: "/health", want: open},
		{method: "GET", path: "/version", want: list},
		{method: "GET", path: "/status", want: list},
		{method: "GET", path: "/openapi.json", want: list},
		{method: "POST", path: "/login", body: jsonBody(api.LoginRequest{Username: "viewer", Password: "viewer-password"}), want: open},
		{method: "POST", path: "/signup", body: func(_ *fixture, actor string) (io.Reader, string) {
			return jsonBody(api.SignupRequest{Username: "new-" + actor + fmt.Sprint(time.Now().UnixNano()), Password: "long-enough"})(nil, "")
		}, want: [7]int{201, 201, 201, 201, 201, 201, 201}},
		{method: "GET", path: "/token", want: anyUser},
		{method: "GET", path: "/user", want: anyUser},
		{method: "PUT", path: "/user/password", relogin: true, body: func(_ *fixture, actor string) (io.Reader, string) {
			pw := map[string]string{"viewer": "viewer-password", "owner": "owner-password", "other": "other-password", "admin": "admin-password", "service": "service-password"}[actor]
			return jsonBody(api.PasswordChange{CurrentPassword: pw, NewPassword: pw})(nil, "")
		}, want: [7]int{A, 204, 204, 204, 204, 204, F}},

		{method: "GET", path: "/users", want: adminOnly},
		{method: "POST", path: "/users", body: func(_ *fixture, actor string) (io.Reader, string) {
			return jsonBody(api.UserCreate{Username: "u-" + actor + fmt.Sprint(time.Now().UnixNano()), Password: "long-enough", Role: "viewer"})(nil, "")
		}, want: [7]int{A, F, F, F, 201, F, F}},
		{method: "GET", path: "/users/{user}", want: adminOnly},
		{method: "PATCH", path: "/users/{user}", body: jsonBody(map[string]any{"email": "x@example.com"}), want: adminOnly},
		{method: "DELETE", path: "/users/{user}", want: [7]int{A, F, F, F, 204, F, F}},
		{method: "POST", path: "/apiKeys", body: jsonBody(api.APIKeyCreate{Name: "k"}), want: [7]int{A, 201, 201, 201, 201, 201, F}},
		{method: "GET", path: "/apiKeys", want: anyUser},
		{method: "GET", path: "/apiKeys/{apikey}", want: [7]int{A, N, 200, N, 200, N, F}},
		{method: "DELETE", path: "/apiKeys/{apikey}", want: [7]int{A, N, 204, N, 204, N, F}},

		{method: "GET", path: "/jobTypes", want: list},
		{method: "GET", path: "/jobTypes/sum", want: list},
		{method: "PATCH", path: "/jobTypes/echo?update_mask=is_paused", body: jsonBody(map[string]any{"is_paused": false}), want: adminOnly},

		{method: "POST", path: "/instances", body: jsonBody(map[string]any{"job_type": "sum", "data": map[string]any{"values": []int{1}}}), want: create},
		{method: "POST", path: "/instances", body: fileBody("file", "m.lp", "max: x;"), want: create},
		{method: "GET", path: "/instances", want: list},
		{method: "GET", path: "/instances/{inst}", want: readNoKey},
		{method: "GET", path: "/instances/{inst}/data", want: readNoKey},
		{method: "PATCH", path: "/instances/{inst}", body: jsonBody(map[string]any{"name": "n"}), want: write},
		{method: "DELETE", path: "/instances/{inst}", want: del},
		{method: "POST", path: "/instances/{inst}/checks", want: readNoKey},

		{method: "POST", path: "/executions", body: jsonBody(map[string]any{"job_type": "echo", "instance": map[string]any{"x": 1}}), want: create},
		{method: "GET", path: "/executions", want: list},
		{method: "DELETE", path: "/executions?finished_before=2000-01-01T00:00:00Z", want: adminOnly},
		{method: "GET", path: "/executions/{exec}", want: read},
		{method: "PATCH", path: "/executions/{exec}", body: jsonBody(map[string]any{"name": "n"}), want: write},
		{method: "DELETE", path: "/executions/{exec}", want: del},
		{method: "GET", path: "/executions/{exec}/status", want: read},
		{method: "PUT", path: "/executions/{slow}/status", slow: true, body: jsonBody(map[string]any{"state": "stopped"}), want: [7]int{A, F, 200, N, 200, 200, 200}},
		{method: "GET", path: "/executions/{exec}/data", want: read},
		{method: "GET", path: "/executions/{exec}/log", want: read},
		{method: "GET", path: "/executions/{exec}/events", want: read},
		{method: "POST", path: "/executions/{exec}/relaunch", want: write},
		{method: "GET", path: "/executions/{exec}/files", want: read},
		{method: "POST", path: "/executions/{exec}/files", body: fileBody("file", "out.txt", "data"), want: [7]int{A, F, 201, N, 201, 201, 201}},
		{method: "GET", path: "/executions/{exec}/files/report.txt", want: read},

		{method: "GET", path: "/queues", want: ops},
		{method: "POST", path: "/queues/default/pause", want: adminOnly},
		{method: "POST", path: "/queues/default/resume", want: adminOnly},
		{method: "GET", path: "/workers", want: ops},
	}
}

// TestAuthorizationMatrix calls every route as every kind of caller, each
// on fresh objects of planner "owner", and checks the status.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{AllowSignup: true}})
	ctx := context.Background()
	e.addUser("viewer", api.RoleViewer)
	owner := e.addUser("owner", api.RolePlanner)
	e.addUser("other", api.RolePlanner)
	e.addUser("service", api.RoleService)
	e.admin()
	// make sure the default queue exists for pause/resume
	_, err := owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)}, 5*time.Second)
	require.NoError(t, err)

	newFixture := func(slow bool) *fixture {
		f := &fixture{}
		ex, err := owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{"v":1}`)}, 0)
		require.NoError(t, err)
		f.exec, f.execKey = ex.ID, ex.JobKey
		_, err = owner.c.UploadFile(ctx, ex.ID, "report.txt", "text/plain", strings.NewReader("r"))
		require.NoError(t, err)
		if slow {
			ex, err = owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
			require.NoError(t, err)
			f.slow, f.slowKey = ex.ID, ex.JobKey
		}
		in, err := owner.c.CreateInstance(ctx, api.InstanceCreate{JobType: "sum", Data: json.RawMessage(`{"values":[2]}`)})
		require.NoError(t, err)
		f.inst = in.ID
		u, err := e.admin().c.CreateUser(ctx, api.UserCreate{Username: fmt.Sprintf("tmp%d", time.Now().UnixNano()), Password: "long-enough", Role: "viewer"})
		require.NoError(t, err)
		f.user = u.ID
		k, err := owner.c.CreateAPIKey(ctx, api.APIKeyCreate{Name: "fx"})
		require.NoError(t, err)
		f.apiKey = k.ID
		return f
	}

	for _, c := range matrixCells() {
		for i, who := range actors {
			name := fmt.Sprintf("%s %s as %s", c.method, c.path, who)
			f := newFixture(c.slow)
			path := strings.NewReplacer("{exec}", f.exec, "{slow}", f.slow, "{inst}", f.inst, "{user}", f.user, "{apikey}", f.apiKey).Replace(c.path)
			var body io.Reader
			ct := ""
			if c.body != nil {
				body, ct = c.body(f, who)
			}
			hdr := http.Header{}
			if ct != "" {
				hdr.Set("Content-Type", ct)
			}
			switch who {
			case "anonymous":
			case "jobkey":
				key := f.execKey
				if c.slow {
					key = f.slowKey
				}
				hdr.Set("X-Job-Key", key)
			default:
				a := e.users[who]
				tok, err := e.anon.Login(ctx, a.username, a.password)
				require.NoError(t, err)
				hdr.Set("Authorization", "Bearer "+tok.Token)
			}
			if c.slow {
				require.Eventually(t, func() bool {
					s, err := owner.c.ExecutionStatus(ctx, f.slow)
					return err == nil && s.State == "running"
				}, 10*time.Second, 10*time.Millisecond, name)
			}
			status, ctype, b := e.raw(c.method, path, body, hdr)
			require.Equal(t, c.want[i], status, "%s: %s", name, b)
			if status >= 400 {
				require.Equal(t, "application/problem+json", ctype, name)
			}
			if c.relogin {
				for _, a := range e.users {
					e.login(a)
				}
			}
			if c.slow {
				_, _ = e.admin().c.StopExecution(ctx, f.slow)
			}
		}
	}

	// No object of one planner is visible to another.
	other := e.users["other"]
	ol, err := other.c.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{Limit: 1000})
	require.NoError(t, err)
	for _, x := range ol.Executions {
		require.Equal(t, other.user.ID, x.Owner)
	}
	il, err := other.c.ListInstances(ctx, client.Page{Limit: 1000})
	require.NoError(t, err)
	for _, x := range il.Instances {
		require.Equal(t, other.user.ID, x.Owner)
	}
	ol, err = other.c.ListExecutions(ctx, client.ExecutionFilter{Owner: owner.user.ID}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, ol.Executions)
	own, err := owner.c.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.NoError(t, err)
	require.NotEmpty(t, own.Executions)
}

// TestSharing: with Sharing on, planners see each other's objects but
// cannot change them.
func TestSharing(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Sharing: true}})
	ctx := context.Background()
	owner := e.addUser("owner", api.RolePlanner)
	other := e.addUser("other", api.RolePlanner)
	ex, err := owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	_, err = other.c.GetExecution(ctx, ex.ID)
	require.NoError(t, err)
	l, err := other.c.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 1, l.TotalEntries)
	_, err = other.c.PatchExecution(ctx, ex.ID, api.ExecutionPatch{Name: ptr("x")})
	require.Equal(t, 403, client.StatusCode(err))
	require.Equal(t, 403, client.StatusCode(other.c.DeleteExecution(ctx, ex.ID)))
}
