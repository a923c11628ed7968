package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

func TestFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	p := e.addUser("planner1", api.RolePlanner)

	// sync job answers with its result
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)}, 0)
	require.NoError(t, err)
	require.Equal(t, "succeeded", string(ex.State))
	require.JSONEq(t, `{"a":1}`, string(ex.Solution))
	require.True(t, strings.HasPrefix(ex.JobKey, "jk_"))

	// async with ?wait=
	ex, err = p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2,3]}`),
		Metadata: map[string]string{"team": "a"}}, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "succeeded", string(ex.State))
	require.JSONEq(t, `{"sum":6}`, string(ex.Solution))

	got, err := p.c.GetExecution(ctx, ex.ID)
	require.NoError(t, err)
	require.Empty(t, got.JobKey, "the job key is shown once")
	sol, err := p.c.ExecutionData(ctx, ex.ID, "")
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":6}`, string(sol))

	// the job key reads its execution and nothing else
	jk := e.client(client.WithJobKey(ex.JobKey))
	st, err := jk.ExecutionStatus(ctx, ex.ID)
	require.NoError(t, err)
	require.Equal(t, "succeeded", string(st.State))
	_, err = jk.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.Equal(t, 403, client.StatusCode(err))

	list, err := p.c.ListExecutions(ctx, client.ExecutionFilter{Metadata: map[string]string{"team": "a"}}, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 1, list.TotalEntries)

	logs, err := p.c.ExecutionLog(ctx, ex.ID, "", client.Page{})
	require.NoError(t, err)
	require.Len(t, logs.Records, 1)

	// instances: JSON and multipart MPS
	in, err := p.c.CreateInstance(ctx, api.InstanceCreate{Name: "i1", JobType: "sum", Data: json.RawMessage(`{"values":[4]}`)})
	require.NoError(t, err)
	ex, err = p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", InstanceID: in.ID}, 10*time.Second)
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":4}`, string(ex.Solution))
	mps, err := p.c.UploadInstance(ctx, "model.mps", strings.NewReader("NAME x\nENDATA\n"), "", "")
	require.NoError(t, err)
	require.Equal(t, "mps", mps.Format)
	data, err := p.c.InstanceData(ctx, mps.ID)
	require.NoError(t, err)
	require.JSONEq(t, `{"format":"mps","model":"NAME x\nENDATA\n"}`, string(data))
	rep, err := p.c.CheckInstance(ctx, in.ID, api.CheckRequest{})
	require.NoError(t, err)
	require.True(t, rep.Valid)

	// files
	_, err = p.c.UploadFile(ctx, ex.ID, "report.txt", "text/plain", strings.NewReader("hello"))
	require.NoError(t, err)
	fl, err := p.c.ListFiles(ctx, ex.ID)
	require.NoError(t, err)
	require.Len(t, fl.Files, 1)
	b, ct, err := p.c.DownloadFile(ctx, ex.ID, "report.txt")
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	require.Equal(t, "text/plain", ct)

	// stop a running execution
	ex, err = p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := p.c.ExecutionStatus(ctx, ex.ID)
		return err == nil && s.State == "running"
	}, 10*time.Second, 20*time.Millisecond)
	_, err = p.c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := p.c.ExecutionStatus(ctx, ex.ID)
		return err == nil && s.State == "stopped"
	}, 10*time.Second, 20*time.Millisecond)

	// relaunch, patch, delete
	ex2, err := p.c.PatchExecution(ctx, ex.ID, api.ExecutionPatch{Name: ptr("renamed")}, "name")
	require.NoError(t, err)
	require.Equal(t, "renamed", ex2.Name)
	require.NoError(t, p.c.DeleteExecution(ctx, ex.ID))
	_, err = p.c.GetExecution(ctx, ex.ID)
	require.Equal(t, 404, client.StatusCode(err))

	// operations (admin)
	a := e.admin()
	qs, err := a.c.ListQueues(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, qs.Queues)
	q, err := a.c.PauseQueue(ctx, "default")
	require.NoError(t, err)
	require.True(t, q.Paused)
	q, err = a.c.ResumeQueue(ctx, "default")
	require.NoError(t, err)
	require.False(t, q.Paused)
	ws, err := a.c.ListWorkers(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, ws.Workers)
	jt, err := a.c.SetJobTypePaused(ctx, "sum", true)
	require.NoError(t, err)
	require.True(t, jt.IsPaused)
	_, err = p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)}, 0)
	require.Equal(t, 503, client.StatusCode(err))
	_, err = a.c.SetJobTypePaused(ctx, "sum", false)
	require.NoError(t, err)
	status, err := a.c.Status(ctx)
	require.NoError(t, err)
	require.Contains(t, status.JobTypes, "sum")
}

func ptr[T any](v T) *T { return &v }

// TestSSE follows an execution's events: queued, running, progress,
// incumbent and succeeded arrive in this order, then the stream ends.
func TestSSE(t *testing.T) {
	e, p, _ := plannerEnv(t, envOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)}, 0)
	require.NoError(t, err)
	var seq []string
	incumbentID := ""
	err = p.c.Events(ctx, ex.ID, "", func(ev client.Event) error {
		if ev.Type == "incumbent" {
			incumbentID = ev.ID
		}
		name := ev.Type
		if ev.Type == "status" {
			var s struct{ State string }
			require.NoError(t, json.Unmarshal(ev.Data, &s))
			name = s.State
		}
		seq = append(seq, name)
		return nil
	})
	require.NoError(t, err)
	// log records are buffered by the job's logger, so they may arrive
	// anywhere after running; the rest is strictly ordered.
	var noLog []string
	for _, s := range seq {
		if s != "log" {
			noLog = append(noLog, s)
		}
	}
	require.Equal(t, []string{"queued", "running", "progress", "incumbent", "succeeded"}, noLog)
	require.Contains(t, seq, "log")

	// resuming after the incumbent replays only what followed it
	var rest []string
	require.NoError(t, p.c.Events(ctx, ex.ID, incumbentID, func(ev client.Event) error {
		rest = append(rest, ev.Type)
		return nil
	}))
	require.Contains(t, rest, "status")
	require.NotContains(t, rest, "incumbent")
	require.NotContains(t, rest, "progress")

	// a job key can follow its execution; a bad Last-Event-ID is a 400
	jk := e.client(client.WithJobKey(ex.JobKey))
	require.NoError(t, jk.Events(ctx, ex.ID, "", func(client.Event) error { return nil }))
	err = jk.Events(ctx, ex.ID, "garbage", func(client.Event) error { return nil })
	require.Equal(t, 400, client.StatusCode(err))
}

// TestRoutesDocumented: every registered route is in the OpenAPI
// document and every documented operation reaches its registered route.
func TestRoutesDocumented(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{AllowSignup: true}})
	registered := map[string]bool{}
	for _, p := range httpapi.RegisteredPatterns(e.h) {
		registered[p] = true
	}
	documented := map[string]bool{}
	for path, item := range e.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
			// the private mux routes a request for the documented
			// operation to the very same pattern
			concrete := strings.NewReplacer("{id}", "0190a4d2-7a52-7c2e-8000-000000000000", "{name}", "x").Replace(path)
			req, _ := http.NewRequest(method, concrete, nil)
			require.Equal(t, method+" "+path, httpapi.MuxPattern(e.h, req))
		}
	}
	keys := func(m map[string]bool) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	require.Equal(t, keys(registered), keys(documented))
	require.Contains(t, documented, "POST /signup")
	require.GreaterOrEqual(t, len(documented), 45)
	// job type schemas are embedded
	require.NotNil(t, e.doc.Components.Schemas["jobType.sum.instance"])
	require.NotNil(t, e.doc.Components.Schemas["jobType.sum.solution"])
}

// TestListingPageTokens: GET /executions and GET /instances page with
// next_page_token, newest first, each item once; the client's
// EachExecution follows the tokens; a filter combination is served; a
// too-deep offset or a token that is not the server's is a 400 problem.
func TestListingPageTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := e.admin()
	ctx := t.Context()
	var ids []string
	for i := 0; i < 7; i++ {
		x, err := a.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`),
			Metadata: map[string]string{"odd": fmt.Sprint(i%2 == 1)}}, 0)
		require.NoError(t, err)
		ids = append([]string{x.ID}, ids...) // newest first
	}
	var got []string
	p := client.Page{Limit: 3}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		l, err := a.c.ListExecutions(ctx, client.ExecutionFilter{JobType: "echo"}, p)
		require.NoError(t, err)
		require.EqualValues(t, 7, l.TotalEntries)
		for _, x := range l.Executions {
			got = append(got, x.ID)
		}
		if l.NextPageToken == "" {
			break
		}
		p.Token = l.NextPageToken
	}
	require.Equal(t, ids, got)

	var each []string
	require.NoError(t, a.c.EachExecution(ctx, client.ExecutionFilter{Status: "succeeded", JobType: "echo",
		Metadata: map[string]string{"odd": "true"}}, 2, func(x *api.Execution) error {
		each = append(each, x.ID)
		return nil
	}))
	require.Equal(t, []string{ids[1], ids[3], ids[5]}, each) // i = 5, 3, 1

	for i := 0; i < 3; i++ {
		_, err := a.c.CreateInstance(ctx, api.InstanceCreate{Name: fmt.Sprint("i", i), Data: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}
	il, err := a.c.ListInstances(ctx, client.Page{Limit: 2})
	require.NoError(t, err)
	require.Len(t, il.Instances, 2)
	require.NotEmpty(t, il.NextPageToken)
	il2, err := a.c.ListInstances(ctx, client.Page{Limit: 2, Token: il.NextPageToken})
	require.NoError(t, err)
	require.Len(t, il2.Instances, 1)
	require.Equal(t, "i0", il2.Instances[0].Name)
	require.Empty(t, il2.NextPageToken)

	hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "admin")}}
	for _, path := range []string{
		"/executions?offset=1001",
		"/executions?page_token=not-ours",
		"/executions?status=queued&job_type=echo&owner=x&offset=5",
		"/instances?offset=1001",
	} {
		status, _, b := e.raw("GET", path, nil, hdr)
		require.Equal(t, 400, status, "%s: %s", path, b)
		require.Contains(t, string(b), "page_token", path)
	}
}

// TestSchedulesHTTP drives the schedule routes and run_in through the Go
// client, with every response checked against the OpenAPI document: a
// schedule fires executions listed by ?schedule_id=, is private to its
// owner, is disabled and deleted; a bad cron or time zone is 422; an
// execution with run_in is scheduled (?status=scheduled) and stoppable.
func TestSchedulesHTTP(t *testing.T) {
	e, planner, admin := plannerEnv(t, envOpts{})
	other := e.addUser("other", api.RolePlanner)
	ctx := context.Background()

	_, err := planner.c.CreateSchedule(ctx, api.ScheduleCreate{Cron: "61 * * * *", JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)})
	require.Equal(t, 422, client.StatusCode(err), "%v", err)
	_, err = planner.c.CreateSchedule(ctx, api.ScheduleCreate{Cron: "* * * * *", TimeZone: "Nowhere/City", JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)})
	require.Equal(t, 422, client.StatusCode(err), "%v", err)

	sc, err := planner.c.CreateSchedule(ctx, api.ScheduleCreate{Name: "every second", Cron: "* * * * * *", TimeZone: "Europe/Berlin",
		JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`), CatchUp: "once"})
	require.NoError(t, err)
	require.True(t, sc.Enabled)
	require.Equal(t, "once", string(sc.CatchUp))
	require.NotNil(t, sc.NextRun)
	var fired *api.ExecutionList
	require.Eventually(t, func() bool {
		fired, err = planner.c.ListExecutions(ctx, client.ExecutionFilter{ScheduleID: sc.ID}, client.Page{})
		require.NoError(t, err)
		return len(fired.Executions) > 0
	}, patience.Scale(20*time.Second), 50*time.Millisecond)
	require.Equal(t, sc.ID, fired.Executions[0].ScheduleID)
	tick, err := planner.c.GetExecution(ctx, fired.Executions[0].ID)
	require.NoError(t, err, "a schedule's execution (id %q) is reachable by its id", fired.Executions[0].ID)
	require.Equal(t, sc.ID, tick.ScheduleID)

	got, err := planner.c.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	require.Equal(t, sc.Cron, got.Cron)
	_, err = other.c.GetSchedule(ctx, sc.ID)
	require.Equal(t, 404, client.StatusCode(err))
	_, err = other.c.PatchSchedule(ctx, sc.ID, api.SchedulePatch{Enabled: new(bool)})
	require.Equal(t, 404, client.StatusCode(err))
	mine, err := other.c.ListSchedules(ctx, client.ScheduleFilter{}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, mine.Schedules)
	all, err := admin.c.ListSchedules(ctx, client.ScheduleFilter{JobType: "sum"}, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 1, all.TotalEntries)

	got, err = planner.c.PatchSchedule(ctx, sc.ID, api.SchedulePatch{Enabled: new(bool)})
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Nil(t, got.NextRun)
	bad := "not a spec"
	_, err = planner.c.PatchSchedule(ctx, sc.ID, api.SchedulePatch{Cron: &bad})
	require.Equal(t, 422, client.StatusCode(err))
	require.NoError(t, planner.c.DeleteSchedule(ctx, sc.ID))
	_, err = planner.c.GetSchedule(ctx, sc.ID)
	require.Equal(t, 404, client.StatusCode(err))

	// run_in: scheduled until due, listed by state, stoppable.
	ex, err := planner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[3]}`), RunIn: "1h"}, 0)
	require.NoError(t, err)
	require.Equal(t, "scheduled", string(ex.State))
	require.NotNil(t, ex.RunAt)
	require.WithinDuration(t, time.Now().Add(time.Hour), *ex.RunAt, patience.Scale(time.Minute))
	list, err := planner.c.ListExecutions(ctx, client.ExecutionFilter{Status: "scheduled"}, client.Page{})
	require.NoError(t, err)
	require.Len(t, list.Executions, 1)
	st, err := planner.c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
	require.Equal(t, "stopped", string(st.State))
	at := time.Now().Add(time.Hour)
	_, err = planner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`), RunAt: &at}, 0)
	require.Equal(t, 422, client.StatusCode(err), "a sync job type is not scheduled")
	_, err = planner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[3]}`), RunIn: "soon"}, 0)
	require.Equal(t, 422, client.StatusCode(err))
}

// TestChosenExecutionIDs: an execution whose id its submitter chose (any
// 1 to 64 letters, digits, '-', '_' or '.', not only a UUID) is reached by
// that id on every execution route, by its owner and by its job key; ids
// no execution can have are 404.
func TestChosenExecutionIDs(t *testing.T) {
	e, planner, _ := plannerEnv(t, envOpts{})
	ctx := context.Background()
	const id = "Nightly.run_2026-12-02"
	ex, err := planner.c.CreateExecution(ctx, api.ExecutionCreate{ID: id, JobType: "sum", Instance: json.RawMessage(`{"values":[4,5]}`)}, 0)
	require.NoError(t, err)
	require.Equal(t, id, ex.ID)

	done, err := planner.c.WaitExecution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "succeeded", string(done.State))
	sol, err := planner.c.ExecutionData(ctx, id, "")
	require.NoError(t, err)
	require.JSONEq(t, `{"sum":9}`, string(sol))
	_, err = planner.c.ExecutionLog(ctx, id, "", client.Page{})
	require.NoError(t, err)
	st, err := e.client(client.WithJobKey(ex.JobKey)).ExecutionStatus(ctx, id)
	require.NoError(t, err, "the job key reaches its chosen-id execution")
	require.Equal(t, "succeeded", string(st.State))
	_, err = planner.c.GetExecution(ctx, strings.ToLower(id))
	require.Equal(t, 404, client.StatusCode(err), "a chosen id is taken exactly as written")

	for _, bad := range []string{"..", "a%20b", strings.Repeat("x", 65)} {
		status, _, b := e.raw("GET", "/executions/"+bad, nil, http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "planner")}})
		require.Equal(t, 404, status, "%q: %s", bad, b)
	}
}

// TestUnknownSolverRefused: over REST, a solver name for a job type that
// declares no solvers is refused with 422 and a pointer at the name, and
// nothing is stored.
func TestUnknownSolverRefused(t *testing.T) {
	e, _, _ := plannerEnv(t, envOpts{})
	hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "planner")}, "Content-Type": {"application/json"}}
	before := storedCounts(t, e)
	for body, pointer := range map[string]string{
		`{"job_type":"sum","instance":{"values":[1]},"solver":"gurobi"}`:            "/solver",
		`{"job_type":"sum","instance":{"values":[1]},"config":{"solver":"gurobi"}}`: "/config/solver",
	} {
		status, ctype, b := e.raw("POST", "/executions", strings.NewReader(body), hdr)
		require.Equal(t, http.StatusUnprocessableEntity, status, "%s: %s", body, b)
		prob := problemOf(t, ctype, b)
		require.Len(t, prob.Errors, 1, "%s", b)
		require.Equal(t, pointer, prob.Errors[0].Pointer, "%s", b)
		require.Contains(t, prob.Detail+prob.Title, "solver", "%s", b)
	}
	require.Equal(t, before, storedCounts(t, e), "a refused submit stored something")
	status, _, b := e.raw("POST", "/executions", strings.NewReader(`{"job_type":"sum","instance":{"values":[1]}}`), hdr)
	require.Equal(t, http.StatusCreated, status, "%s", b)
}

// TestRelaunchChangesSolver relaunches over REST with a config naming
// another solver: the new attempt runs that solver.
func TestRelaunchChangesSolver(t *testing.T) {
	e, p, _ := plannerEnv(t, envOpts{})
	require.NoError(t, e.svc.Register(job.Async("which", func(ctx context.Context, jc *job.Context) (any, error) {
		return map[string]string{"ran": jc.Solver}, nil
	}, job.WithSolvers("alpha", "alpha", "beta"))))
	ctx := context.Background()
	ran := func(id string) string {
		t.Helper()
		sol, err := p.c.ExecutionData(ctx, id, "")
		require.NoError(t, err)
		var got struct{ Ran string }
		require.NoError(t, json.Unmarshal(sol, &got))
		return got.Ran
	}
	wait := func(id string, attempt int) {
		t.Helper()
		require.Eventually(t, func() bool {
			s, err := p.c.ExecutionStatus(ctx, id)
			require.NoError(t, err)
			return s.Attempt == attempt && s.State.Terminal()
		}, 10*time.Second, 10*time.Millisecond)
	}
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "which", Instance: json.RawMessage(`{}`)}, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, ex.State)
	require.Equal(t, "alpha", ran(ex.ID))

	var out api.Execution
	require.NoError(t, p.c.Do(ctx, client.Request{Method: "POST", Path: "/executions/" + ex.ID + "/relaunch",
		Body: map[string]any{"config": map[string]string{"solver": "beta"}}}, &out))
	require.Equal(t, 2, out.Attempt)
	wait(ex.ID, 2)
	require.Equal(t, "beta", ran(ex.ID))
	rec, err := e.svc.Get(ctx, ex.ID)
	require.NoError(t, err)
	require.Equal(t, "beta", rec.Solver)

	// An unknown solver is refused with 422.
	err = p.c.Do(ctx, client.Request{Method: "POST", Path: "/executions/" + ex.ID + "/relaunch",
		Body: map[string]any{"config": map[string]string{"solver": "gamma"}}}, nil)
	require.Equal(t, 422, client.StatusCode(err))
}

// TestSubmitQueueChoice: POST /executions may name only a configured
// queue (422 otherwise, for everyone); a queue other than the job type's
// own is for admins and service callers, and for planners only when
// Options.PlannerQueues lists it. Refused submits store nothing.
func TestSubmitQueueChoice(t *testing.T) {
	for _, allow := range []bool{false, true} {
		var opts httpapi.Options
		if allow {
			opts.PlannerQueues = []string{"slow"}
		}
		e := newEnv(t, envOpts{opts: opts})
		e.addUser("viewer", api.RoleViewer)
		e.addUser("planner", api.RolePlanner)
		e.addUser("service", api.RoleService)
		e.admin()
		plannerSlow := 403
		if allow {
			plannerSlow = 201
		}
		for _, c := range []struct {
			who, queue string
			status     int
		}{
			{"planner", "", 201},
			{"planner", "default", 201},
			{"planner", "slow", plannerSlow},
			{"planner", "nope", 422},
			{"viewer", "default", 403},
			{"service", "slow", 201},
			{"service", "nope", 422},
			{"admin", "slow", 201},
			{"admin", "nope", 422},
		} {
			before := storedCounts(t, e)
			body := `{"job_type":"sum","instance":{"values":[1]}`
			if c.queue != "" {
				body += `,"queue":"` + c.queue + `"`
			}
			body += "}"
			hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, c.who)}, "Content-Type": {"application/json"}}
			status, _, b := e.raw("POST", "/executions", strings.NewReader(body), hdr)
			require.Equal(t, c.status, status, "allow-list %v, %s on queue %q: %s", allow, c.who, c.queue, b)
			if status != 201 {
				require.Equal(t, before, storedCounts(t, e), "a refused submit stored something")
				if status == 422 {
					require.Contains(t, string(b), `"/queue"`)
				}
				continue
			}
			var ex api.Execution
			require.NoError(t, json.Unmarshal(b, &ex))
			want := c.queue
			if want == "" {
				want = "default"
			}
			require.Equal(t, want, ex.Queue)
		}
	}
}

// GET /executions/{id}?wait= reads the record once its done subscription
// is in place: it answers at once for a record the caller may not see
// (404, however long the wait asked), at the wait's end with the record as
// it is, and at the execution's end with its terminal record.
func TestGetExecutionWait(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef")}})
	ctx := context.Background()
	p := e.addUser("waiter", api.RolePlanner)
	other := e.addUser("other", api.RolePlanner)
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)

	// Another planner: 404 without waiting the 5 minutes it asks for.
	octx, cancel := context.WithTimeout(ctx, patience.Scale(20*time.Second))
	defer cancel()
	_, err = other.c.With(client.WithLongPoll(5*time.Minute)).WaitExecution(octx, ex.ID)
	require.Equal(t, 404, client.StatusCode(err), "%v", err)

	// The wait passes: the record as it is.
	sctx, scancel := context.WithTimeout(ctx, patience.Scale(time.Second))
	defer scancel()
	got, err := p.c.With(client.WithLongPoll(50*time.Millisecond)).WaitExecution(sctx, ex.ID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotNil(t, got, "a long poll that ran out answers the record")
	require.False(t, got.State.Terminal())

	// Stopped while a long poll waits: the terminal record.
	done := make(chan *api.Execution, 1)
	go func() {
		x, _ := p.c.WaitExecution(ctx, ex.ID)
		done <- x
	}()
	_, err = p.c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
	select {
	case x := <-done:
		require.NotNil(t, x)
		require.Equal(t, "stopped", string(x.State))
	case <-time.After(patience.Scale(30 * time.Second)):
		t.Fatal("the long poll did not answer the end")
	}
}

// A client that drops a long poll is not a server error: nothing is logged
// above debug, where "client gone" says what happened.
func TestDroppedLongPollIsNotAnError(t *testing.T) {
	var logged logtest.Buffer
	e := newEnv(t, envOpts{opts: httpapi.Options{Logger: logged.Logger(slog.LevelDebug)}})
	admin := e.admin()
	ctx := context.Background()
	ex, err := admin.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = admin.c.Do(short, client.Request{Method: "GET", Path: "/executions/" + ex.ID, Query: url.Values{"wait": {"30s"}}}, nil)
	require.Error(t, err)
	require.Eventually(t, func() bool { return strings.Contains(logged.String(), "client gone") },
		patience.Scale(10*time.Second), 10*time.Millisecond, "the dropped poll was not seen: %s", logged.String())
	require.NotContains(t, logged.String(), "level=ERROR")
	_, err = admin.c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
}
