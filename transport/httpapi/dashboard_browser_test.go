package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/servicetest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// The browser test drives the dashboard in headless Chromium (Debian's
// chromium package; .ci/run installs it). Without a browser it skips,
// unless SOLVEKIT_REQUIRE_BROWSER=1 (as in CI), when it fails. It saves a
// PNG screenshot of each page it visits under a directory it prints
// (SOLVEKIT_SCREENSHOT_DIR, else a new temporary directory that is kept).

// chromiumPath finds a Chromium or Chrome binary.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SOLVEKIT_REQUIRE_BROWSER") == "1" {
		t.Fatal("SOLVEKIT_REQUIRE_BROWSER=1 but no chromium found on PATH (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: the browser test needs headless Chromium (set SOLVEKIT_REQUIRE_BROWSER=1 to fail instead)")
	return ""
}

// tourInstance is the schema of the browser test's job type's instance.
var tourInstance = []byte(`{"type":"object","required":["cities"],"properties":{"cities":{"type":"array","minItems":2,"items":{"type":"string"}}},"additionalProperties":false}`)

// tourJob reports four incumbents with log lines, waits for release (so
// that the page is open while it runs), then reports two more and ends.
func tourJob(release <-chan struct{}) *job.Definition {
	return job.Async("tour", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct {
			Cities []string `json:"cities"`
		}
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		report := func(objs ...float64) error {
			for _, o := range objs {
				if err := jc.Incumbent(map[string]any{"length": o, "order": in.Cities}, o); err != nil {
					return err
				}
				jc.Logger.Info("new incumbent", "objective", o)
				time.Sleep(20 * time.Millisecond) // spread the points on the time axis
			}
			return nil
		}
		jc.Logger.Info("searching", "cities", len(in.Cities))
		jc.Progress(0.2, "local search")
		if err := report(120, 104, 97.5, 91); err != nil {
			return nil, err
		}
		jc.Progress(0.6, "waiting for the test")
		jc.Logger.Info("waiting for the test")
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := report(88, 86.5); err != nil {
			return nil, err
		}
		jc.Progress(1, "done")
		jc.Logger.Info("finished", "best", 86.5)
		return map[string]any{"length": 86.5, "order": in.Cities}, nil
	}, job.WithInstanceSchema(tourInstance), job.WithConfigSchema(sumConfig),
		job.WithDescription("orders cities into a short tour (a test job)"))
}

// chrome is one browser tab (one cookie jar) of the test.
type chrome struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	name string
}

// shots numbers the screenshots in the order taken.
var shots int

// run runs steps with a bound of minutes (stretched for load); on error it
// saves a screenshot of the tab and fails.
func (c *chrome) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, patience.Scale(time.Minute))
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.failed(what, err)
	}
}

func (c *chrome) failed(what string, err error) {
	c.t.Helper()
	if c.ctx.Err() == nil {
		c.shot("failure")
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		if body, e := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); e == nil {
			c.t.Logf("page text when %s failed:\n%s", what, body)
		}
	}
	c.t.Fatalf("%s (%s): %v", what, c.name, err)
}

// nav loads a dashboard path and wants 200.
func (c *chrome) nav(path string) {
	c.t.Helper()
	c.navigate("open "+path, 200, chromedp.Navigate(c.base+path))
}

// navigate runs steps that load a page (a link, a form) and checks the
// final document's status.
func (c *chrome) navigate(what string, status int, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, patience.Scale(time.Minute))
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		c.failed(what, err)
	}
	if int(resp.Status) != status {
		c.failed(what, fmt.Errorf("status %d, want %d (%s)", resp.Status, status, resp.URL))
	}
}

// waitJS waits until the JavaScript expression is truthy.
func (c *chrome) waitJS(what, expr string) {
	c.t.Helper()
	poll := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(100*time.Millisecond))
	c.run("wait for "+what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := poll(ctx, t)
		return err
	}))
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](c *chrome, expr string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, patience.Scale(time.Minute))
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		c.failed("evaluate "+expr, err)
	}
	return v
}

// shot saves a full-page PNG screenshot of the tab and prints its path.
func (c *chrome) shot(name string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, patience.Scale(time.Minute))
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	shots++
	path := filepath.Join(c.dir, fmt.Sprintf("%02d-%s.png", shots, name))
	require.NoError(c.t, os.WriteFile(path, png, 0o644))
	c.t.Logf("screenshot: %s", path)
	fmt.Println("dashboard screenshot:", path)
	return path
}

// login signs in through the form the tab was sent to, and lands on want.
func (c *chrome) login(username, password, want string) {
	c.t.Helper()
	c.run("fill the login form", chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SetValue(chromedp.ID("username"), username), chromedp.SetValue(chromedp.ID("password"), password))
	c.navigate("sign in as "+username, 200, chromedp.Click(chromedp.CSS(`.login button[type=submit]`)))
	loc := eval[string](c, `location.pathname`)
	require.Equal(c.t, want, loc, "after signing in")
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("SOLVEKIT_SCREENSHOT_DIR")
	if dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	dir, err := os.MkdirTemp("", "solvekit-dashboard-screenshots-")
	require.NoError(t, err)
	return dir
}

// TestDashboardBrowser is the dashboard's acceptance test in a real
// browser: sign in, submit through the job type's form, watch the run's
// log stream in and its state reach succeeded, see the incumbent chart,
// stop a long run with the Stop button, and check that a viewer has no
// Stop button and gets 403 when it posts anyway.
func TestDashboardBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	release := make(chan struct{})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}, jobs: []*job.Definition{tourJob(release)}})
	admin := e.admin()
	viewer := e.addUser("viewer", api.RoleViewer)
	dir := screenshotDir(t)
	t.Logf("screenshots in %s", dir)
	fmt.Println("dashboard screenshots in", dir)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	// The first call starts the browser; its context must not time out
	// (that would end the browser), so it has none: the test's own
	// timeout bounds it.
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	c := &chrome{t: t, ctx: ctx, base: e.srv.URL, dir: dir, name: "admin"}

	// Sign in: the dashboard sends an unauthenticated browser to the form.
	c.nav("/ui/")
	require.Equal(t, "/ui/login", eval[string](c, `location.pathname`))
	c.shot("login")
	c.login("admin", "admin-password", "/ui/executions")
	c.waitJS("the counts", `document.querySelectorAll("ul.counts b[data-state]").length > 0`)
	c.shot("executions-empty")
	// Keyboard: the first Tab reaches the skip link, the next the
	// header's links.
	c.run("press Tab", chromedp.KeyEvent("\t"))
	require.Equal(t, "Skip to content", eval[string](c, `document.activeElement.textContent`))
	c.run("press Tab again", chromedp.KeyEvent("\t"))
	require.Equal(t, "solvekit", eval[string](c, `document.activeElement.textContent`), "then the header's links")

	// Submit an instance through the job type's form.
	c.nav("/ui/jobTypes")
	c.shot("job-types")
	c.navigate("open the tour job type", 200, chromedp.Click(chromedp.CSS(`a[href="/ui/jobTypes/tour"]`)))
	// The page checks the instance against the schema before sending it.
	c.run("submit an instance the schema refuses", chromedp.WaitVisible(chromedp.ID("s-instance")),
		chromedp.SetValue(chromedp.ID("s-instance"), `{"cities": ["Lyon"], "speed": 3}`), chromedp.Click(chromedp.ID("submit")))
	c.waitJS("the form's own check", `!document.getElementById("s-errors").hidden`)
	errs := eval[string](c, `document.getElementById("s-errors").textContent`)
	require.Contains(t, errs, "/instance/cities minItems")
	require.Contains(t, errs, "/instance/speed additionalProperties")
	require.Equal(t, "/ui/jobTypes/tour", eval[string](c, `location.pathname`), "nothing sent")
	c.shot("job-type-invalid")
	c.run("fill the submit form", chromedp.WaitVisible(chromedp.ID("s-instance")),
		chromedp.SetValue(chromedp.ID("s-name"), "five cities"),
		chromedp.SetValue(chromedp.ID("s-instance"), `{"cities": ["Lyon", "Paris", "Lille", "Nantes", "Nice"]}`))
	c.shot("job-type")
	c.navigate("submit the form", 200, chromedp.Click(chromedp.ID("submit")))
	path := eval[string](c, `location.pathname`)
	require.True(t, strings.HasPrefix(path, "/ui/executions/"), path)
	id := strings.TrimPrefix(path, "/ui/executions/")
	ex, err := e.svc.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "five cities", ex.Name)
	require.Equal(t, admin.user.ID, ex.Owner)

	// The log streams in while the job waits for the test; released, the
	// job's last lines arrive live and the state turns succeeded.
	c.waitJS("the log and state while running", `document.getElementById("log").textContent.includes("waiting for the test") &&
		document.getElementById("state").textContent === "running"`)
	require.NotContains(t, eval[string](c, `document.getElementById("log").textContent`), "finished")
	c.shot("execution-running")
	released = true
	close(release)
	c.waitJS("the state to turn succeeded", `document.getElementById("state").textContent === "succeeded"`)
	c.waitJS("the last log line", `document.getElementById("log").textContent.includes("finished")`)
	c.waitJS("the end of the stream", `document.getElementById("log-status").textContent.includes("has ended")`)
	logText := eval[string](c, `document.getElementById("log").textContent`)
	require.Equal(t, 6, strings.Count(logText, "new incumbent"), logText)

	// Reloaded, the page draws the incumbents' chart: one marker each.
	c.nav(path)
	c.run("the chart", chromedp.WaitVisible(chromedp.ID("incumbent-chart")))
	points := eval[int](c, `document.querySelectorAll("#incumbent-chart circle").length`)
	require.GreaterOrEqual(t, points, 2, "chart points")
	require.Equal(t, 6, points)
	require.NotEmpty(t, eval[string](c, `document.querySelector("#incumbent-chart path.line").getAttribute("d")`))
	require.Equal(t, "succeeded", eval[string](c, `document.getElementById("state").textContent`))
	c.waitJS("the log on the reloaded page", `document.getElementById("log-status").textContent.includes("whole log")`)
	require.Contains(t, eval[string](c, `document.getElementById("log").textContent`), "finished")
	c.shot("execution")

	// The relaunch editor checks the config against the config schema in
	// the page before sending it.
	c.run("type a config the schema refuses", chromedp.Click(chromedp.CSS("#relaunch-editor summary")),
		chromedp.WaitVisible(chromedp.ID("r-config")), chromedp.SetValue(chromedp.ID("r-config"), `{"scale": "big"}`),
		chromedp.Click(chromedp.ID("relaunch-config")))
	c.waitJS("the config's check", `document.querySelector("#relaunch-editor .field-errors").textContent.includes("/config/scale type")`)
	require.Equal(t, path, eval[string](c, `location.pathname`), "nothing sent")
	c.shot("execution-relaunch-editor")
	ex, err = e.svc.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, 1, ex.Attempt, "not relaunched")

	// An instance uploaded as a file: the page reads and checks it too.
	upload := func(name, content string) string {
		f := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(f, []byte(content), 0o644))
		return f
	}
	c.nav("/ui/jobTypes/tour")
	c.run("choose a file the schema refuses", chromedp.Evaluate[chromedp.Void](`document.getElementById("s-instance").value = ""`),
		chromedp.SetUploadFiles(chromedp.ID("s-file"), []string{upload("one.json", `{"cities": ["Lyon"]}`)}),
		chromedp.Click(chromedp.ID("submit")))
	c.waitJS("the check of the file", `document.getElementById("s-errors").textContent.includes("/instance/cities minItems")`)
	c.run("choose a good file", chromedp.SetUploadFiles(chromedp.ID("s-file"), []string{upload("two.json", `{"cities": ["Lyon", "Lille"]}`)}))
	c.navigate("submit the file", 200, chromedp.Click(chromedp.ID("submit")))
	uploaded := strings.TrimPrefix(eval[string](c, `location.pathname`), "/ui/executions/")
	c.waitJS("the uploaded instance's run to succeed", `document.getElementById("state").textContent === "succeeded"`)
	up, err := e.svc.ExecutionInput(context.Background(), uploaded)
	require.NoError(t, err)
	require.JSONEq(t, `{"cities": ["Lyon", "Lille"]}`, string(up))

	// Stop a long run with the Stop button.
	slow := submitAs(t, e, admin, "slow", `{}`)
	t.Cleanup(func() { _ = e.svc.Cancel(context.Background(), slow) })
	servicetest.WaitState(t, e.svc, slow, job.StateRunning, 30*time.Second)
	c.nav("/ui/executions/" + slow)
	c.waitJS("the live state", `document.getElementById("state").textContent === "running"`)
	c.navigate("press Stop", 200, chromedp.Click(chromedp.ID("stop")))
	c.waitJS("the state to turn stopped", `document.getElementById("state").textContent === "stopped"`)
	c.shot("execution-stopped")
	got, err := e.svc.Get(context.Background(), slow)
	require.NoError(t, err)
	require.Equal(t, job.StateStopped, got.State)

	// The other pages an admin sees.
	c.nav("/ui/executions")
	c.run("the executions table", chromedp.WaitVisible(chromedp.CSS("table.executions")))
	c.shot("executions")
	// The first page reads itself again: an execution submitted meanwhile
	// shows up without a reload.
	fresh, err := e.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[7]}`)})
	require.NoError(t, err)
	c.waitJS("the new execution in the refreshed table", `document.querySelector('table.executions a[href="/ui/executions/`+fresh.ID+`"]') !== null`)
	c.nav("/ui/queues")
	c.shot("queues")
	c.nav("/ui/workers")
	c.run("the workers table", chromedp.WaitVisible(chromedp.CSS("table.workers")))
	c.shot("workers")
	c.nav("/ui/users")
	c.shot("users")
	// An experiment: the list, and its page with the server's charts as
	// images (which the page's CSP must let load).
	ctx0 := context.Background()
	set, err := admin.c.ImportInstanceSet(ctx0, "sums", "sum", nil, []client.File{{Name: "one.json", Data: []byte(`{"values":[1,2]}`)},
		{Name: "two.json", Data: []byte(`{"values":[3,4,5]}`)}, {Name: "three.json", Data: []byte(`{"values":[6]}`)}})
	require.NoError(t, err)
	exp, err := admin.c.CreateExperiment(ctx0, api.ExperimentCreate{Name: "scales", JobType: "sum", InstanceSetID: set.ID,
		Variants: []api.VariantCreate{{Label: "one", Config: json.RawMessage(`{"scale":1}`)}, {Label: "two", Config: json.RawMessage(`{"scale":2}`)}}})
	require.NoError(t, err)
	awaitExperimentHTTP(t, admin.c, exp.ID)
	c.nav("/ui/experiments")
	c.run("the experiments table", chromedp.WaitVisible(chromedp.CSS("table.experiments")))
	c.shot("experiments")
	c.navigate("open the experiment", 200, chromedp.Click(chromedp.CSS(`a[href="/ui/experiments/`+exp.ID+`"]`)))
	c.waitJS("the charts to load", `["profile", "primal"].every(id => { const i = document.getElementById(id); return i.complete && i.naturalWidth > 0; })`)
	require.Equal(t, 6, eval[int](c, `document.querySelectorAll("#results tbody tr").length`))
	c.shot("experiment")
	// A phone's width: the layout reflows to one column.
	c.run("a phone's viewport", chromedp.EmulateViewport(390, 844))
	c.nav(path)
	c.run("the chart", chromedp.WaitVisible(chromedp.ID("incumbent-chart")))
	require.LessOrEqual(t, eval[int](c, `document.documentElement.scrollWidth`), 400, "no sideways scrolling on a phone")
	c.shot("execution-phone")
	c.run("a laptop's viewport", chromedp.EmulateViewport(1280, 900))

	// A viewer, in a browser context of its own (its own cookies): no
	// Stop button, and a post made anyway (with the viewer's valid CSRF
	// token) is refused with 403.
	running := submitAs(t, e, admin, "slow", `{}`)
	t.Cleanup(func() { _ = e.svc.Cancel(context.Background(), running) })
	servicetest.WaitState(t, e.svc, running, job.StateRunning, 30*time.Second)
	vctx, cancelViewer := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelViewer)
	require.NoError(t, chromedp.Do(vctx), "open the viewer's tab")
	v := &chrome{t: t, ctx: vctx, base: e.srv.URL, dir: dir, name: "viewer"}
	v.nav("/ui/executions/" + running)
	require.Equal(t, "/ui/login", eval[string](v, `location.pathname`))
	v.login(viewer.username, viewer.password, "/ui/executions/"+running)
	v.waitJS("the live state", `document.getElementById("state").textContent === "running"`)
	require.True(t, eval[bool](v, `document.getElementById("stop") === null`), "a viewer sees no Stop button")
	require.False(t, eval[bool](v, `Array.from(document.querySelectorAll("button")).some(b => b.textContent.trim() === "Stop")`))
	v.shot("execution-viewer")
	status := eval[int](v, `(async () => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		const r = await fetch(location.pathname + "/stop", {method: "POST", credentials: "same-origin", redirect: "manual",
			headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=" + encodeURIComponent(csrf)});
		return r.status;
	})()`)
	require.Equal(t, http.StatusForbidden, status, "a viewer's stop post")
	got, err = e.svc.Get(context.Background(), running)
	require.NoError(t, err)
	require.Equal(t, job.StateRunning, got.State)
	require.False(t, got.CancelReq, "the refused post changed nothing")
	// The viewer's job type page has no submit form.
	v.nav("/ui/jobTypes/tour")
	require.True(t, eval[bool](v, `document.getElementById("submit") === null`))

	var names []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, en := range entries {
		names = append(names, en.Name())
	}
	b, _ := json.Marshal(names)
	t.Logf("%d screenshots in %s: %s", len(names), dir, b)
}
