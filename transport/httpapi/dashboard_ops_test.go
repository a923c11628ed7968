package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/servicetest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestDashboardOps: admins pause and resume job types and queues with
// CSRF-protected buttons, and see the workers (with their running
// executions) and the users; planners and viewers do not.
func TestDashboardOps(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	planner := e.addUser("planner", api.RolePlanner)
	viewer := e.addUser("viewer", api.RoleViewer)
	b := newBrowser(t, e.srv.URL)
	b.login("admin", "admin-password")
	ctx := context.Background()

	// Job types: pause from the list, resume from the job type's page.
	resp, page := b.get("/ui/jobTypes")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `action="/ui/jobTypes/sum/pause"`)
	token := csrfOf(t, page)
	resp, _ = b.post("/ui/jobTypes/sum/pause", url.Values{})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token")
	require.False(t, e.svc.JobTypePaused("sum"))
	resp, _ = b.post("/ui/jobTypes/sum/pause", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/jobTypes", resp.Header.Get("Location"))
	require.True(t, e.svc.JobTypePaused("sum"))
	_, page = b.get("/ui/jobTypes/sum")
	require.Contains(t, page, `action="/ui/jobTypes/sum/resume"`)
	resp, _ = b.post("/ui/jobTypes/sum/resume", url.Values{"csrf": {token}, "back": {"jobType"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/jobTypes/sum", resp.Header.Get("Location"))
	require.False(t, e.svc.JobTypePaused("sum"))
	resp, _ = b.post("/ui/jobTypes/nope/pause", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Queues (asynq knows a queue once a task went through it).
	slow := submitAs(t, e, e.admin(), "slow", `{}`)
	t.Cleanup(func() { _ = e.svc.Cancel(context.Background(), slow) })
	servicetest.WaitState(t, e.svc, slow, job.StateRunning, 30*time.Second)
	queuePaused := func(name string) bool {
		qs, err := e.svc.Queues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == name {
				return q.Paused
			}
		}
		t.Fatalf("no queue %q", name)
		return false
	}
	_, page = b.get("/ui/queues")
	require.Contains(t, page, `action="/ui/queues/slow/pause"`)
	resp, _ = b.post("/ui/queues/slow/pause", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, queuePaused("slow"))
	_, page = b.get("/ui/queues")
	require.Contains(t, page, `action="/ui/queues/slow/resume"`)
	resp, _ = b.post("/ui/queues/slow/resume", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.False(t, queuePaused("slow"))

	// Workers, with the execution that runs on this process's worker.
	resp, page = b.get("/ui/workers")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `<table class="workers">`)
	require.Contains(t, page, `href="/ui/executions/`+slow+`"`)
	require.Contains(t, page, `href="/ui/workers"`, "the navigation links the workers")
	require.NotContains(t, page, "Running on other workers")

	// Users.
	resp, page = b.get("/ui/users")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "<td>viewer</td>")
	require.Contains(t, page, "<td>planner</td>")

	// A planner may submit but not pause, and sees neither the users nor
	// the workers; a viewer neither.
	pb := newBrowser(t, e.srv.URL)
	pb.login(planner.username, planner.password)
	_, page = pb.get("/ui/jobTypes")
	require.NotContains(t, page, "/pause")
	require.NotContains(t, page, `href="/ui/users"`)
	resp, _ = pb.post("/ui/jobTypes/sum/pause", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.False(t, e.svc.JobTypePaused("sum"))
	resp, _ = pb.post("/ui/queues/slow/pause", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.False(t, queuePaused("slow"))
	for _, path := range []string{"/ui/users", "/ui/workers"} {
		resp, _ = pb.get(path)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	vb := newBrowser(t, e.srv.URL)
	vb.login(viewer.username, viewer.password)
	_, page = vb.get("/ui/queues")
	resp, _ = vb.post("/ui/queues/slow/pause", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// postMultipart posts a multipart form with one file.
func (b *browser) postMultipart(path string, fields map[string]string, fileField, fileName, content string) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		require.NoError(b.t, mw.WriteField(k, v))
	}
	fw, err := mw.CreateFormFile(fileField, fileName)
	require.NoError(b.t, err)
	_, err = io.WriteString(fw, content)
	require.NoError(b.t, err)
	require.NoError(b.t, mw.Close())
	resp, err := b.c.Post(b.base+path, mw.FormDataContentType(), &body)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp, string(out)
}

// TestDashboardUploadAndRelaunchConfig: the submit form takes the
// instance as an uploaded file, and the relaunch form's config editor is
// checked against the job type's config schema on the server.
func TestDashboardUploadAndRelaunchConfig(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	b := newBrowser(t, e.srv.URL)
	b.login("admin", "admin-password")
	_, page := b.get("/ui/jobTypes/sum")
	require.Contains(t, page, `enctype="multipart/form-data"`)
	require.Contains(t, page, `data-schema="{`, "the schema for the page's own check")
	token := csrfOf(t, page)

	// A file that is not JSON: 400 naming it; a file against the schema:
	// 422 with the pointer; a good file: 303 (the textarea is ignored).
	resp, page := b.postMultipart("/ui/jobTypes/sum/submit", map[string]string{"csrf": token, "instance": `{}`}, "instance_file", "bad.json", `{"values":`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, `the uploaded file &#34;bad.json&#34; is not JSON`)
	resp, page = b.postMultipart("/ui/jobTypes/sum/submit", map[string]string{"csrf": token}, "instance_file", "neg.json", `{"values":[-1]}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "<code>/instance/values/0</code>")
	resp, _ = b.postMultipart("/ui/jobTypes/sum/submit", map[string]string{"csrf": token, "instance": `not json`, "config": `{"scale":2}`}, "instance_file", "ok.json", `{"values":[1,2,3]}`)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	done := servicetest.Wait(t, e.svc, id, 30*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	require.JSONEq(t, `{"scale":2}`, string(done.Config))
	// Without the CSRF token a multipart post is refused too.
	resp, _ = b.postMultipart("/ui/jobTypes/sum/submit", nil, "instance_file", "ok.json", `{"values":[1]}`)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Relaunch with a config the schema refuses: 422, the violations and
	// what was typed; nothing relaunched.
	_, page = b.get("/ui/executions/" + id)
	require.Contains(t, page, `id="r-config"`)
	require.Contains(t, page, `&#34;scale&#34;: 2`, "the editor starts from the execution's config")
	resp, page = b.post("/ui/executions/"+id+"/relaunch", url.Values{"csrf": {token}, "config": {`{"scale":"big"}`}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "<code>/config/scale</code>")
	require.Contains(t, page, `{&#34;scale&#34;:&#34;big&#34;}`)
	require.Contains(t, page, `id="relaunch-editor" open`)
	resp, page = b.post("/ui/executions/"+id+"/relaunch", url.Values{"csrf": {token}, "config": {`{"scale":`}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "the config must be JSON")
	got, err := e.svc.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, 1, got.Attempt)
	// A good one relaunches with it.
	resp, _ = b.post("/ui/executions/"+id+"/relaunch", url.Values{"csrf": {token}, "config": {`{"scale":3}`}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Eventually(t, func() bool {
		got, err := e.svc.Get(context.Background(), id)
		return err == nil && got.Attempt == 2 && got.State == job.StateSucceeded
	}, patience.Scale(30*time.Second), 20*time.Millisecond)
	got, err = e.svc.Get(context.Background(), id)
	require.NoError(t, err)
	require.JSONEq(t, `{"scale":3}`, string(got.Config))
}

// TestDashboardExecutionFilters: the executions page filters by owner,
// created range, metadata and tag, and says what is wrong with a filter.
func TestDashboardExecutionFilters(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	admin := e.admin()
	planner := e.addUser("planner", api.RolePlanner)
	ctx := context.Background()
	a, err := e.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), Owner: admin.user.ID,
		Metadata: map[string]string{"project": "x"}, Tags: []string{"nightly"}})
	require.NoError(t, err)
	bID := submitAs(t, e, planner, "sum", `{"values":[2]}`)
	servicetest.Wait(t, e.svc, a.ID, 30*time.Second)
	servicetest.Wait(t, e.svc, bID, 30*time.Second)
	b := newBrowser(t, e.srv.URL)
	b.login("admin", "admin-password")
	list := func(query string, status int, want, notWant []string) string {
		t.Helper()
		resp, page := b.get("/ui/executions?" + query)
		require.Equal(t, status, resp.StatusCode, query)
		for _, id := range want {
			require.Contains(t, page, "/ui/executions/"+id, query)
		}
		for _, id := range notWant {
			require.NotContains(t, page, "/ui/executions/"+id, query)
		}
		return page
	}
	page := list("", 200, []string{a.ID, bID}, nil)
	require.Contains(t, page, `href="/ui/executions?owner=`+admin.user.ID+`"`, "the Mine link")
	list("owner="+planner.user.ID, 200, []string{bID}, []string{a.ID})
	list("metadata=project%3Dx", 200, []string{a.ID}, []string{bID})
	list("metadata=project%3Dy", 200, nil, []string{a.ID, bID})
	list("tag=nightly", 200, []string{a.ID}, []string{bID})
	later := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
	earlier := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05")
	list("created_after="+later, 200, nil, []string{a.ID, bID})
	page = list("created_after="+earlier+"&created_before="+later+"&owner="+admin.user.ID, 200, []string{a.ID}, []string{bID})
	require.Contains(t, page, `value="`+earlier+`"`, "the form keeps the filters")
	page = list("created_after=yesterday", 400, nil, []string{a.ID})
	require.Contains(t, page, "is not a time")
	page = list("metadata=project", 400, nil, nil)
	require.Contains(t, page, "is not key=value")
	list("tag=Not+A+Tag", 400, nil, nil)

	// A planner (no sharing) sees its own only, and may not ask for others'.
	pb := newBrowser(t, e.srv.URL)
	pb.login(planner.username, planner.password)
	_, page = pb.get("/ui/executions")
	require.Contains(t, page, "/ui/executions/"+bID)
	require.NotContains(t, page, "/ui/executions/"+a.ID)
	resp, page := pb.get("/ui/executions?owner=" + admin.user.ID)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "planners see their own executions only")
}
