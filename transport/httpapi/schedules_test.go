package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

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
