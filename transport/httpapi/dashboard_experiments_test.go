package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestDashboardExperiments: the experiments list and page (aggregates,
// the comparison with a baseline, results, CSV and the charts through the
// dashboard's session), the Stop button for the owner and admins only,
// and the ownership rules of the API: another planner gets 404, a viewer
// no button and 403.
func TestDashboardExperiments(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	admin := e.admin()
	ann := e.addUser("ann", api.RolePlanner)
	bob := e.addUser("bob", api.RolePlanner)
	viewer := e.addUser("viewer", api.RoleViewer)
	ctx := context.Background()

	set, err := ann.c.ImportInstanceSet(ctx, "sums", "sum", nil, []client.File{
		{Name: "one.json", Data: []byte(`{"values":[1]}`)}, {Name: "two.json", Data: []byte(`{"values":[1,2]}`)}})
	require.NoError(t, err)
	run := func(name string, baseline bool) *api.Experiment {
		ex, err := ann.c.CreateExperiment(ctx, api.ExperimentCreate{Name: name, JobType: "sum", InstanceSetID: set.ID, Baseline: baseline,
			Variants: []api.VariantCreate{{Label: "plain"}}})
		require.NoError(t, err)
		return awaitExperimentHTTP(t, ann.c, ex.ID)
	}
	base := run("before", true)
	cur := run("after", false)
	slowSet, err := ann.c.ImportInstanceSet(ctx, "slow", "", nil, []client.File{{Name: "a.json", Data: []byte(`{}`)}})
	require.NoError(t, err)
	slow, err := ann.c.CreateExperiment(ctx, api.ExperimentCreate{Name: "waits", JobType: "slow", InstanceSetID: slowSet.ID,
		Variants: []api.VariantCreate{{Label: "wait"}}})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = e.svc.StopExperiment(context.Background(), slow.ID) })

	ab := signedIn(t, e.srv.URL, ann.username, ann.password)
	resp, page := ab.get("/ui/experiments")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `href="/ui/experiments">Experiments</a>`, "the header links the list")
	require.Contains(t, page, "3 experiments")
	for _, ex := range []*api.Experiment{base, cur, slow} {
		require.Contains(t, page, `href="/ui/experiments/`+ex.ID+`"`)
	}
	require.Contains(t, page, "2 / 2", "a finished experiment's cells are done")
	require.Contains(t, page, "0 / 1")

	resp, page = ab.get("/ui/experiments/" + cur.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "img-src 'self'")
	require.Contains(t, page, `id="aggregates"`)
	require.Contains(t, page, `<th scope="row">plain</th>`)
	require.Contains(t, page, `id="comparison"`, "compared with the baseline")
	require.Contains(t, page, `href="/ui/experiments/`+base.ID+`"`)
	require.Contains(t, page, `id="results"`)
	require.Equal(t, 2, strings.Count(page, `class="state state-succeeded"`), "one row per cell")
	require.Contains(t, page, `src="/ui/experiments/`+cur.ID+`/profile.svg"`)
	require.Contains(t, page, `src="/ui/experiments/`+cur.ID+`/primal.svg"`)
	require.NotContains(t, page, `id="stop"`, "a finished experiment has no Stop button")
	resp, csv := ab.get("/ui/experiments/" + cur.ID + "/results.csv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/csv")
	require.Len(t, strings.Split(strings.TrimSpace(csv), "\n"), 3, "a header and two rows")
	for _, name := range []string{"profile.svg", "primal.svg"} {
		resp, svg := ab.get("/ui/experiments/" + cur.ID + "/" + name)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"))
		require.Contains(t, svg, "<svg")
	}
	_, page = ab.get("/ui/experiments/" + base.ID)
	require.NotContains(t, page, `id="comparison"`, "a baseline is not compared with itself")

	// Another planner neither lists nor opens ann's experiments.
	bb := signedIn(t, e.srv.URL, bob.username, bob.password)
	_, page = bb.get("/ui/experiments")
	require.NotContains(t, page, cur.ID)
	resp, _ = bb.get("/ui/experiments/" + cur.ID)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = bb.get("/ui/experiments/" + cur.ID + "/results.csv")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = bb.post("/ui/experiments/"+slow.ID+"/stop", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// A viewer sees it without a button, and a post is refused.
	vb := signedIn(t, e.srv.URL, viewer.username, viewer.password)
	resp, page = vb.get("/ui/experiments/" + slow.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, page, `id="stop"`)
	resp, _ = vb.post("/ui/experiments/"+slow.ID+"/stop", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	adb := signedIn(t, e.srv.URL, admin.username, admin.password)
	_, page = adb.get("/ui/experiments/" + slow.ID)
	require.Contains(t, page, `id="stop"`, "admins may stop anyone's")

	// The owner stops it: without the CSRF token nothing happens.
	_, page = ab.get("/ui/experiments/" + slow.ID)
	require.Contains(t, page, `id="stop"`)
	resp, _ = ab.post("/ui/experiments/"+slow.ID+"/stop", url.Values{})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	got, err := ann.c.GetExperiment(ctx, slow.ID)
	require.NoError(t, err)
	require.Equal(t, experiment.StateRunning, got.State)
	resp, _ = ab.post("/ui/experiments/"+slow.ID+"/stop", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/experiments/"+slow.ID, resp.Header.Get("Location"))
	got, err = ann.c.GetExperiment(ctx, slow.ID)
	require.NoError(t, err)
	require.Equal(t, experiment.StateStopped, got.State)
	_, page = ab.get("/ui/experiments/" + slow.ID)
	require.NotContains(t, page, `id="stop"`)
	require.Contains(t, page, `state-stopped`)
}
