package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
