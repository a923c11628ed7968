package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
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

// twoIncumbentsJob reports two incumbents (objectives 10 then 7) and logs
// a line after each.
func twoIncumbentsJob() *job.Definition {
	return job.Async("twoinc", func(ctx context.Context, jc *job.Context) (any, error) {
		if err := jc.Incumbent(map[string]int{"best": 10}, 10); err != nil {
			return nil, err
		}
		jc.Logger.Info("first incumbent", "objective", 10)
		time.Sleep(5 * time.Millisecond)
		if err := jc.Incumbent(map[string]int{"best": 7}, 7); err != nil {
			return nil, err
		}
		jc.Logger.Info("second incumbent", "objective", 7)
		jc.Progress(1, "done")
		return map[string]int{"best": 7}, nil
	})
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see each 303.
type browser struct {
	t    *testing.T
	base string // server URL + prefix
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	return b.read(b.c.Get(b.base + path))
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	return b.read(b.c.PostForm(b.base+path, form))
}

// read returns a request's answer and its body, read and closed.
func (b *browser) read(resp *http.Response, err error) (*http.Response, string) {
	b.t.Helper()
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, "no CSRF field in the page")
	return m[1]
}

// signedIn is a new browser signed in through the dashboard's form.
func signedIn(t *testing.T, base, username, password string) *browser {
	t.Helper()
	b := newBrowser(t, base)
	b.login(username, password)
	return b
}

// login signs in through the dashboard's form.
func (b *browser) login(username, password string) {
	t := b.t
	t.Helper()
	resp, page := b.get("/ui/executions")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, strings.TrimPrefix(b.base, serverURL(b.base))+"/ui/login?next="), loc)
	resp, page = b.get("/ui/login?next=" + url.QueryEscape(strings.TrimPrefix(b.base, serverURL(b.base))+"/ui/executions"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = b.post("/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {username}, "password": {password},
		"next": {strings.TrimPrefix(b.base, serverURL(b.base)) + "/ui/executions"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var session string
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "solvekit_session=") {
			session = sc
		}
	}
	require.Contains(t, session, "HttpOnly")
	require.Contains(t, session, "SameSite=Strict")
	require.True(t, strings.HasSuffix(resp.Header.Get("Location"), "/ui/executions"), resp.Header.Get("Location"))
}

// serverURL is the scheme and host of a URL.
func serverURL(u string) string {
	p, _ := url.Parse(u)
	return p.Scheme + "://" + p.Host
}

func submitAs(t *testing.T, e *env, owner *actor, jobType string, instance string) string {
	t.Helper()
	ex, err := e.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: jobType, Instance: json.RawMessage(instance), Owner: owner.user.ID})
	require.NoError(t, err)
	return ex.ID
}

func TestDashboardFlow(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}, jobs: []*job.Definition{twoIncumbentsJob()}})
	admin := e.admin()
	b := newBrowser(t, e.srv.URL)

	// Unauthenticated: pages redirect to the login form, posts are refused.
	resp, _ := b.post("/ui/executions/0190a4d2-7a52-7c2e-8000-000000000000/stop", url.Values{})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	b.login("admin", "admin-password")

	// A wrong password shows the form again with 401.
	other := newBrowser(t, e.srv.URL)
	_, page := other.get("/ui/login")
	resp, page = other.post("/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"admin"}, "password": {"wrong-password"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, page, `role="alert"`)
	// A login post without the CSRF token is refused.
	resp, _ = other.post("/ui/login", url.Values{"username": {"admin"}, "password": {"admin-password"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// The executions page lists a finished execution with its state.
	id := submitAs(t, e, admin, "twoinc", `{}`)
	done := servicetest.Wait(t, e.svc, id, 30*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	resp, page = b.get("/ui/executions")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, page, "/ui/executions/"+id)
	require.Contains(t, page, `state-succeeded`)
	// Filters: by job type and state; an unknown state is a 400 page.
	_, page = b.get("/ui/executions?job_type=twoinc&state=succeeded")
	require.Contains(t, page, "/ui/executions/"+id)
	_, page = b.get("/ui/executions?job_type=sum")
	require.NotContains(t, page, "/ui/executions/"+id)
	resp, _ = b.get("/ui/executions?state=nonsense")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	// The counts the page polls.
	resp, body := b.get("/ui/counts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var counts map[string]int64
	require.NoError(t, json.Unmarshal([]byte(body), &counts))
	require.GreaterOrEqual(t, counts["succeeded"], int64(1))
	require.Contains(t, counts, "running")

	// The detail page: state, objective, and the incumbent chart with
	// both incumbents as points of one path.
	resp, page = b.get("/ui/executions/" + id)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="state" class="state state-succeeded"`)
	require.Contains(t, page, `<svg id="incumbent-chart"`)
	path := regexp.MustCompile(`<path class="line" d="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, path, "no chart path")
	require.Regexp(t, `^M[0-9.]+ [0-9.]+ H[0-9.]+ V[0-9.]+$`, path[1], "a step line through two points")
	require.Equal(t, 2, strings.Count(page, `<circle class="pt"`))
	require.Contains(t, page, "2 incumbents, objective from 10 to 7")
	require.Contains(t, page, "Relaunch", "an admin may relaunch a finished execution")
	require.NotContains(t, page, `id="stop"`, "a finished execution has no stop button")
	// Downloads.
	resp, body = b.get("/ui/executions/" + id + "/solution.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"best":7}`, body)
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	resp, body = b.get("/ui/executions/" + id + "/instance.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{}`, body)

	// The live log: an SSE stream of the log records, ended by "end".
	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(30*time.Second))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/executions/"+id+"/log", nil)
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var logs []string
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && event == "log" {
			var rec job.LogRecord
			require.NoError(t, json.Unmarshal([]byte(v), &rec))
			logs = append(logs, rec.Message)
		}
		if event == "end" {
			break
		}
	}
	resp.Body.Close()
	require.Equal(t, "end", event, "the stream ends with an end event")
	require.Equal(t, []string{"first incumbent", "second incumbent"}, logs)

	// Stop a long run: without the CSRF token, 403 and nothing happens;
	// with it, the execution stops.
	slow := submitAs(t, e, admin, "slow", `{}`)
	servicetest.WaitState(t, e.svc, slow, job.StateRunning, 30*time.Second)
	resp, page = b.get("/ui/executions/" + slow)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="stop"`)
	token := csrfOf(t, page)
	resp, _ = b.post("/ui/executions/"+slow+"/stop", url.Values{})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = b.post("/ui/executions/"+slow+"/stop", url.Values{"csrf": {"x" + token}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	got, err := e.svc.Get(context.Background(), slow)
	require.NoError(t, err)
	require.False(t, got.CancelReq, "a refused post changes nothing")
	// A token from another browser (another CSRF cookie) does not pass.
	resp, _ = other.post("/ui/executions/"+slow+"/stop", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the other browser is not signed in")
	resp, _ = b.post("/ui/executions/"+slow+"/stop", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, strings.HasSuffix(resp.Header.Get("Location"), "/ui/executions/"+slow))
	stopped := servicetest.Wait(t, e.svc, slow, 30*time.Second)
	require.Equal(t, job.StateStopped, stopped.State)
	_, page = b.get("/ui/executions/" + slow)
	require.Contains(t, page, `state-stopped`)

	// Relaunch it from the page, then stop it again through the API.
	resp, _ = b.post("/ui/executions/"+slow+"/relaunch", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	servicetest.WaitState(t, e.svc, slow, job.StateRunning, 30*time.Second)
	require.NoError(t, e.svc.Cancel(context.Background(), slow))
	servicetest.Wait(t, e.svc, slow, 30*time.Second)

	// A stale session cookie (here: not a token at all) is no session:
	// pages send the browser to the login form.
	stale := newBrowser(t, e.srv.URL)
	u, _ := url.Parse(e.srv.URL + "/ui/")
	stale.c.Jar.SetCookies(u, []*http.Cookie{{Name: "solvekit_session", Value: "not-a-token", Path: "/ui/"}})
	resp, _ = stale.get("/ui/executions")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "/ui/login")
	// An API token in the Authorization header opens pages too.
	req, _ = http.NewRequest("GET", e.srv.URL+"/ui/executions/"+id, nil)
	tok, err := e.anon.Login(context.Background(), "admin", "admin-password")
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Sign out: the session cookie is gone and pages redirect to login.
	_, page = b.get("/ui/executions")
	resp, _ = b.post("/ui/logout", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = b.get("/ui/executions")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestDashboardViewer(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	admin := e.admin()
	viewer := e.addUser("viewer", api.RoleViewer)
	slow := submitAs(t, e, admin, "slow", `{}`)
	t.Cleanup(func() { _ = e.svc.Cancel(context.Background(), slow) })
	servicetest.WaitState(t, e.svc, slow, job.StateRunning, 30*time.Second)

	b := signedIn(t, e.srv.URL, viewer.username, viewer.password)
	resp, page := b.get("/ui/executions/" + slow)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `state-running`)
	require.NotContains(t, page, `id="stop"`, "viewers get no stop button")
	require.NotContains(t, page, `id="relaunch"`)
	// A viewer's post with its own valid CSRF token is still refused.
	token := csrfOf(t, page) // the sign-out form's token: valid for this viewer
	resp, _ = b.post("/ui/executions/"+slow+"/stop", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = b.post("/ui/executions/"+slow+"/relaunch", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	got, err := e.svc.Get(context.Background(), slow)
	require.NoError(t, err)
	require.Equal(t, job.StateRunning, got.State)
	require.False(t, got.CancelReq)

	// A planner sees only its own executions (no sharing): the admin's is
	// a 404 and missing from the list.
	planner := e.addUser("planner", api.RolePlanner)
	pb := signedIn(t, e.srv.URL, planner.username, planner.password)
	resp, _ = pb.get("/ui/executions/" + slow)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, page = pb.get("/ui/executions")
	require.NotContains(t, page, "/ui/executions/"+slow)
}

// TestDashboardPrefixAndHost mounts the dashboard under a prefix with a
// host Authenticator only: no login form, links carry the prefix.
func TestDashboardPrefixAndHost(t *testing.T) {
	auth := httpapi.AuthenticatorFunc(func(r *http.Request) (*httpapi.Principal, error) {
		switch r.Header.Get("X-User") {
		case "ops":
			return &httpapi.Principal{ID: "ops", Username: "ops", Role: api.RoleAdmin}, nil
		case "":
			return nil, nil
		}
		return &httpapi.Principal{ID: r.Header.Get("X-User"), Role: api.RoleViewer}, nil
	})
	e := newEnv(t, envOpts{opts: httpapi.Options{Prefix: "/solver", Dashboard: true, Authenticator: auth, DisableBuiltinAuth: true}})
	get := func(user, path string) (int, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if user != "" {
			req.Header.Set("X-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, _ := get("", "/solver/ui/executions")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = get("", "/solver/ui/login")
	require.Equal(t, http.StatusNotFound, status)
	status, page := get("ops", "/solver/ui/executions")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, `href="/solver/ui/assets/style.css"`)
	require.Contains(t, page, `action="/solver/ui/executions"`)
	require.NotContains(t, page, "Sign out", "host sessions are ended by the host")
	status, css := get("", "/solver/ui/assets/style.css")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, css, "--accent")
	status, _ = get("ops", "/solver/ui/nothing-here")
	require.Equal(t, http.StatusNotFound, status)
	// The API beside it still answers JSON.
	status, _ = get("ops", "/solver/version")
	require.Equal(t, http.StatusOK, status)
}

func TestDashboardJobTypesAndQueues(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	viewer := e.addUser("viewer", api.RoleViewer)
	b := signedIn(t, e.srv.URL, "admin", "admin-password")

	resp, page := b.get("/ui/jobTypes")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `href="/ui/jobTypes/sum"`)
	require.Contains(t, page, "adds numbers")
	resp, page = b.get("/ui/jobTypes/sum")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "Instance schema")
	require.Contains(t, page, `&#34;values&#34;`, "the schema is shown")
	require.Contains(t, page, `id="submit"`)
	token := csrfOf(t, page)
	resp, _ = b.get("/ui/jobTypes/nope")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Submitting: without the token 403; bad JSON 400; a schema
	// violation 422 with its pointer, the form keeping what was typed.
	resp, _ = b.post("/ui/jobTypes/sum/submit", url.Values{"instance": {`{"values":[1,2]}`}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, page = b.post("/ui/jobTypes/sum/submit", url.Values{"csrf": {token}, "instance": {`{"values":`}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "<code>/instance</code>")
	resp, page = b.post("/ui/jobTypes/sum/submit", url.Values{"csrf": {token}, "instance": {`{"values":[-1]}`}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "<code>/instance/values/0</code>")
	require.Contains(t, page, `{&#34;values&#34;:[-1]}`)
	resp, _ = b.post("/ui/jobTypes/sum/submit", url.Values{"csrf": {token}, "instance": {`{"values":[1,2,3]}`}, "config": {`{"scale":2}`}, "name": {"from the form"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	require.True(t, strings.HasPrefix(loc, "/ui/executions/"), loc)
	done := servicetest.Wait(t, e.svc, id, 30*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	require.Equal(t, "from the form", done.Name)
	require.Equal(t, e.admin().user.ID, done.Owner, "owned by who submitted it")

	resp, page = b.get("/ui/queues")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "<td>slow</td>")

	// A viewer: no form, a 403 on posting, no queues.
	vb := signedIn(t, e.srv.URL, viewer.username, viewer.password)
	resp, page = vb.get("/ui/jobTypes/sum")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, page, `id="submit"`)
	require.NotContains(t, page, `/ui/queues"`)
	resp, _ = vb.post("/ui/jobTypes/sum/submit", url.Values{"csrf": {csrfOf(t, page)}, "instance": {`{"values":[1]}`}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = vb.get("/ui/queues")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// TestDashboardLiveLog follows a running execution's log: a line logged
// while the page's stream is open arrives on it, and the stream ends
// after the execution does.
func TestDashboardLiveLog(t *testing.T) {
	release := make(chan struct{})
	chatty := job.Async("chatty", func(ctx context.Context, jc *job.Context) (any, error) {
		jc.Progress(0.25, "waiting")
		jc.Logger.Info("before")
		select {
		case <-release:
		case <-ctx.Done():
		}
		jc.Logger.Warn("after")
		return map[string]bool{"ok": true}, nil
	})
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}, jobs: []*job.Definition{chatty}})
	b := signedIn(t, e.srv.URL, "admin", "admin-password")
	id := submitAs(t, e, e.admin(), "chatty", `{}`)
	t.Cleanup(func() { _ = e.svc.Cancel(context.Background(), id) })

	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(30*time.Second))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/executions/"+id+"/log", nil)
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	event, released := "", false
	var logs, states, progress []string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		v, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		switch event {
		case "log":
			var rec job.LogRecord
			require.NoError(t, json.Unmarshal([]byte(v), &rec))
			logs = append(logs, rec.Level+" "+rec.Message)
			if rec.Message == "before" && !released {
				// Logged while the stream is open: release the job
				// only now, so "after" can only come live.
				released = true
				close(release)
			}
		case "status":
			var st struct{ State string }
			require.NoError(t, json.Unmarshal([]byte(v), &st))
			states = append(states, st.State)
		case "progress":
			progress = append(progress, v)
		}
		if event == "end" {
			break
		}
	}
	require.Equal(t, "end", event, "the stream ends with an end event (err %v)", sc.Err())
	require.Equal(t, []string{"INFO before", "WARN after"}, logs)
	require.Equal(t, "succeeded", states[len(states)-1], "states %v", states)
	require.Len(t, progress, 1)
	require.JSONEq(t, `{"attempt":1,"progress":0.25,"message":"waiting"}`, progress[0])
}

// TestDashboardOps: admins pause and resume job types and queues with
// CSRF-protected buttons, and see the workers (with their running
// executions) and the users; planners and viewers do not.
func TestDashboardOps(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	planner := e.addUser("planner", api.RolePlanner)
	viewer := e.addUser("viewer", api.RoleViewer)
	b := signedIn(t, e.srv.URL, "admin", "admin-password")
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
	for _, step := range []struct {
		action string
		paused bool
	}{{"pause", true}, {"resume", false}} {
		_, page = b.get("/ui/queues")
		require.Contains(t, page, `action="/ui/queues/slow/`+step.action+`"`)
		resp, _ = b.post("/ui/queues/slow/"+step.action, url.Values{"csrf": {token}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, step.paused, queuePaused("slow"), step.action)
	}

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
	pb := signedIn(t, e.srv.URL, planner.username, planner.password)
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
	vb := signedIn(t, e.srv.URL, viewer.username, viewer.password)
	_, page = vb.get("/ui/queues")
	resp, _ = vb.post("/ui/queues/slow/pause", url.Values{"csrf": {csrfOf(t, page)}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// TestDashboardUsers: an admin manages the built-in users from the users
// page (as over the API's /users, with the same checks): a refused form
// comes back with the violations and what was typed (not the password);
// role, password, disable, enable and delete act on a row; an admin cannot demote,
// disable or delete itself; only admins may, and only with the CSRF token.
func TestDashboardUsers(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Dashboard: true}})
	planner := e.addUser("planner", api.RolePlanner)
	b := signedIn(t, e.srv.URL, "admin", "admin-password")
	ctx := context.Background()
	admin := e.admin()
	_, page := b.get("/ui/users")
	token := csrfOf(t, page)
	require.Contains(t, page, `action="/ui/users/`+planner.user.ID+`/role"`)
	require.NotContains(t, page, `action="/ui/users/`+admin.user.ID+`/delete"`, "no button to delete oneself")

	resp, page := b.post("/ui/users", url.Values{"csrf": {token}, "username": {"ana"}, "email": {"ana@example.com"},
		"role": {"viewer"}, "password": {"short"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "<code>/password</code>")
	require.Contains(t, page, `value="ana"`, "the form keeps what was typed")
	require.NotContains(t, page, "short", "but not the password")
	resp, page = b.post("/ui/users", url.Values{"csrf": {token}, "username": {"ana"}, "role": {"owner"}, "password": {"ana-password"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "<code>/role</code>")
	resp, _ = b.post("/ui/users", url.Values{"username": {"ana"}, "role": {"viewer"}, "password": {"ana-password"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token")

	resp, _ = b.post("/ui/users", url.Values{"csrf": {token}, "username": {"ana"}, "email": {"ana@example.com"},
		"role": {"viewer"}, "password": {"ana-password"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	tok, err := e.anon.Login(ctx, "ana", "ana-password")
	require.NoError(t, err, "the new user signs in")
	ana := tok.User
	require.Equal(t, api.RoleViewer, ana.Role)
	resp, _ = b.post("/ui/users", url.Values{"csrf": {token}, "username": {"ana"}, "role": {"viewer"}, "password": {"ana-password"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode, "the name is taken")

	user := func(id string) *api.User {
		u, err := admin.c.GetUser(ctx, id)
		require.NoError(t, err)
		return u
	}
	resp, _ = b.post("/ui/users/"+ana.ID+"/role", url.Values{"csrf": {token}, "role": {"planner"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, api.RolePlanner, user(ana.ID).Role)
	resp, _ = b.post("/ui/users/"+ana.ID+"/role", url.Values{"csrf": {token}, "role": {"owner"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	resp, _ = b.post("/ui/users/"+ana.ID+"/disable", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, user(ana.ID).Disabled)
	_, err = e.anon.Login(ctx, "ana", "ana-password")
	require.Error(t, err, "a disabled user cannot sign in")
	_, page = b.get("/ui/users")
	require.Contains(t, page, `action="/ui/users/`+ana.ID+`/enable"`)
	resp, _ = b.post("/ui/users/"+ana.ID+"/enable", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.False(t, user(ana.ID).Disabled)

	resp, page = b.post("/ui/users/"+ana.ID+"/password", url.Values{"csrf": {token}, "password": {"tiny"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.NotContains(t, page, "tiny", "the refused password is not echoed")
	resp, _ = b.post("/ui/users/"+ana.ID+"/password", url.Values{"csrf": {token}, "password": {"ana-new-password"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err = e.anon.Login(ctx, "ana", "ana-password")
	require.Error(t, err, "the old password no longer works")
	_, err = e.anon.Login(ctx, "ana", "ana-new-password")
	require.NoError(t, err)

	for _, action := range []string{"disable", "delete"} {
		resp, _ = b.post("/ui/users/"+admin.user.ID+"/"+action, url.Values{"csrf": {token}})
		require.Equal(t, http.StatusConflict, resp.StatusCode, action)
	}
	resp, _ = b.post("/ui/users/"+admin.user.ID+"/role", url.Values{"csrf": {token}, "role": {"viewer"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode, "demote oneself")
	require.Equal(t, api.RoleAdmin, user(admin.user.ID).Role)

	pb := signedIn(t, e.srv.URL, planner.username, planner.password)
	_, page = pb.get("/ui/jobTypes")
	for _, path := range []string{"/ui/users", "/ui/users/" + ana.ID + "/delete"} {
		resp, _ = pb.post(path, url.Values{"csrf": {csrfOf(t, page)}, "username": {"eve"}, "role": {"admin"}, "password": {"eve-password"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}

	resp, _ = b.post("/ui/users/"+ana.ID+"/delete", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err = admin.c.GetUser(ctx, ana.ID)
	var prob *api.Problem
	require.ErrorAs(t, err, &prob)
	require.Equal(t, http.StatusNotFound, prob.Status)
	resp, _ = b.post("/ui/users/"+ana.ID+"/delete", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
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
	b := signedIn(t, e.srv.URL, "admin", "admin-password")
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
	b := signedIn(t, e.srv.URL, "admin", "admin-password")
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
	pb := signedIn(t, e.srv.URL, planner.username, planner.password)
	_, page = pb.get("/ui/executions")
	require.Contains(t, page, "/ui/executions/"+bID)
	require.NotContains(t, page, "/ui/executions/"+a.ID)
	resp, page := pb.get("/ui/executions?owner=" + admin.user.ID)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "planners see their own executions only")
}
