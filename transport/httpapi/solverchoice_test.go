package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

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
		require.Equal(t, "application/problem+json", ctype)
		var prob api.Problem
		require.NoError(t, json.Unmarshal(b, &prob))
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
