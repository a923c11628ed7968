package solvekit_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// startedAt records when each execution's job started.
type startedAt struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (s *startedAt) def(name string) *job.Definition {
	return job.Async(name, func(ctx context.Context, jc *job.Context) (any, error) {
		s.mu.Lock()
		if s.at == nil {
			s.at = map[string][]time.Time{}
		}
		s.at[jc.ExecutionID] = append(s.at[jc.ExecutionID], time.Now())
		s.mu.Unlock()
		return map[string]bool{"ok": true}, nil
	})
}

func (s *startedAt) runs(id string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at[id]...)
}

// TestRunAtSurvivesRestart: an execution submitted with a run time is
// scheduled (listed, counted, without a task) until then; the process that
// submitted it goes away, another one started later on the same Redis
// queues and runs it, and not before its time.
func TestRunAtSurvivesRestart(t *testing.T) {
	var st startedAt
	def := st.def("sched.later")
	b := setup(t, setupOpts{defs: []*job.Definition{def}, noWork: true})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.later", Instance: json.RawMessage(`{}`), RunIn: 2 * time.Second})
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, e.State)
	require.NotNil(t, e.RunAt)
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, got.State)
	require.True(t, got.RunAt.Equal(*e.RunAt), "run_at is stored: %v vs %v", got.RunAt, e.RunAt)
	list, total, err := b.svc.List(ctx, solvekit.ListOptions{State: job.StateScheduled})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Equal(t, e.ID, list[0].ID)
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, counts[job.StateScheduled])
	require.EqualValues(t, 0, counts[job.StateQueued])
	require.NoError(t, b.svc.Close()) // the submitting process ends

	// A process started later on the same Redis runs it.
	svc2 := secondService(t, b, st.def("sched.later"))
	wctx, cancel := context.WithTimeout(ctx, patience.Scale(30*time.Second))
	defer cancel()
	done, err := svc2.Wait(wctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateSucceeded, done.State)
	runs := st.runs(e.ID)
	require.Len(t, runs, 1, "ran once")
	require.False(t, runs[0].Before(*e.RunAt), "ran at %v, before its run time %v", runs[0], *e.RunAt)
	require.False(t, done.StartedAt.Before(*e.RunAt))
	counts, err = svc2.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, counts[job.StateScheduled])
}

// TestCancelScheduled: a scheduled execution is stopped at once by Cancel,
// leaves the due set (never runs), and can then be deleted; before that,
// Delete refuses it.
func TestCancelScheduled(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.cancel")}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.cancel", Instance: json.RawMessage(`{}`), RunAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, e.State)
	require.Equal(t, job.CodeConflict, job.ErrorCode(b.svc.Delete(ctx, e.ID)), "a scheduled execution is stopped before it is deleted")
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	got, err := b.svc.Get(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateStopped, got.State)
	n, err := b.rdb.ZCard(ctx, "{solvekit}:sched:due").Result()
	require.NoError(t, err)
	require.Zero(t, n, "the due set no longer holds it")
	_, total, err := b.svc.List(ctx, solvekit.ListOptions{State: job.StateScheduled})
	require.NoError(t, err)
	require.Zero(t, total)
	require.NoError(t, b.svc.Delete(ctx, e.ID))

	// A run time in the past queues at once; run_at with run_in is refused.
	e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.cancel", Instance: json.RawMessage(`{}`), RunAt: time.Now().Add(-time.Minute)})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, e.State)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.cancel", Instance: json.RawMessage(`{}`), RunAt: time.Now().Add(time.Minute), RunIn: time.Minute})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
}

// TestScheduleInvalid: a bad cron spec, time zone, catch-up policy, job
// type, or a sync job type, is refused with CodeInvalid naming the field,
// and nothing is stored; run_at on a sync job type too.
func TestScheduleInvalid(t *testing.T) {
	var st startedAt
	syncDef := job.Sync("sched.sync", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil })
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.ok"), syncDef}, noWork: true})
	ctx := context.Background()
	in := json.RawMessage(`{}`)
	for name, c := range map[string]struct {
		req     solvekit.ScheduleRequest
		pointer string
	}{
		"cron":      {solvekit.ScheduleRequest{Cron: "61 * * * *", JobType: "sched.ok", Instance: in}, "/cron"},
		"cron text": {solvekit.ScheduleRequest{Cron: "every day", JobType: "sched.ok", Instance: in}, "/cron"},
		"tz":        {solvekit.ScheduleRequest{Cron: "* * * * *", TimeZone: "Mars/Olympus", JobType: "sched.ok", Instance: in}, "/time_zone"},
		"catch up":  {solvekit.ScheduleRequest{Cron: "* * * * *", CatchUp: "twice", JobType: "sched.ok", Instance: in}, "/catch_up"},
		"sync":      {solvekit.ScheduleRequest{Cron: "* * * * *", JobType: "sched.sync", Instance: in}, "/job_type"},
		"no input":  {solvekit.ScheduleRequest{Cron: "* * * * *", JobType: "sched.ok"}, "/instance"},
	} {
		_, err := b.svc.CreateSchedule(ctx, c.req)
		require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "%s: %v", name, err)
		var je *job.Error
		require.ErrorAs(t, err, &je)
		require.NotEmpty(t, je.Violations, name)
		require.Equal(t, c.pointer, je.Violations[0].Pointer, name)
	}
	_, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Cron: "* * * * *", JobType: "nope", Instance: in})
	require.Error(t, err)
	all, err := b.svc.Schedules(ctx, solvekit.ScheduleFilter{})
	require.NoError(t, err)
	require.Empty(t, all)
	_, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.sync", Instance: in, RunIn: time.Minute})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
}

// TestScheduleCRUD: create (next run planned in the time zone), read,
// list, update (disable: no next run; change the spec), delete.
func TestScheduleCRUD(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.crud")}, noWork: true})
	ctx := context.Background()
	sc, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Name: "nightly", Cron: "0 30 2 * * *", TimeZone: "Europe/Paris",
		JobType: "sched.crud", Instance: json.RawMessage(`{"x":1}`), Owner: "u1", Metadata: map[string]string{"team": "ops"}})
	require.NoError(t, err)
	require.True(t, sc.Enabled)
	require.Equal(t, solvekit.CatchUpSkip, sc.CatchUp)
	require.NotNil(t, sc.NextRun)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	local := sc.NextRun.In(paris)
	require.Equal(t, []int{2, 30, 0}, []int{local.Hour(), local.Minute(), local.Second()}, "02:30 in Paris: %v", local)
	require.True(t, sc.NextRun.After(time.Now()))

	got, err := b.svc.Schedule(ctx, sc.ID)
	require.NoError(t, err)
	require.Equal(t, sc.Cron, got.Cron)
	require.JSONEq(t, `{"x":1}`, string(got.Instance))
	require.True(t, got.NextRun.Equal(*sc.NextRun))
	mine, err := b.svc.Schedules(ctx, solvekit.ScheduleFilter{Owner: "u1"})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	others, err := b.svc.Schedules(ctx, solvekit.ScheduleFilter{Owner: "u2"})
	require.NoError(t, err)
	require.Empty(t, others)

	off := false
	got, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &off})
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Nil(t, got.NextRun)
	on, spec := true, "@hourly"
	got, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &on, Cron: &spec})
	require.NoError(t, err)
	require.Equal(t, "@hourly", got.Cron)
	require.NotNil(t, got.NextRun)
	require.Zero(t, got.NextRun.Minute())
	bad := "nonsense"
	_, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Cron: &bad})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))

	require.NoError(t, b.svc.DeleteSchedule(ctx, sc.ID))
	_, err = b.svc.Schedule(ctx, sc.ID)
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	require.Equal(t, job.CodeNotFound, job.ErrorCode(b.svc.DeleteSchedule(ctx, sc.ID)))
}

// TestScheduleOncePerTickTwoProcesses: two processes (two Services on one
// Redis, both running Work) and a schedule firing every second for about
// ten seconds create exactly one execution per tick: execution ids are
// "<schedule>-<tick>", every tick from the first to the last is there once
// (late ticks fire late, none is skipped or doubled), and each ran once.
func TestScheduleOncePerTickTwoProcesses(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.tick")}})
	secondService(t, b, st.def("sched.tick"))
	ctx := context.Background()
	sc, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Cron: "* * * * * *", JobType: "sched.tick", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	time.Sleep(10 * time.Second)
	off := false
	_, err = b.svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &off})
	require.NoError(t, err)

	list := func() []*job.Execution {
		es, _, err := b.svc.List(ctx, solvekit.ListOptions{ScheduleID: sc.ID, Limit: 1000})
		require.NoError(t, err)
		return es
	}
	// Every execution created ends (so each ran, or would have run twice).
	require.Eventually(t, func() bool {
		for _, e := range list() {
			if !e.State.Terminal() {
				return false
			}
		}
		return true
	}, patience.Scale(30*time.Second), 50*time.Millisecond)
	es := list()
	ticks := map[int64]bool{}
	lo, hi := int64(1<<62), int64(0)
	for _, e := range es {
		require.Equal(t, sc.ID, e.ScheduleID)
		require.Equal(t, sc.ID, e.Metadata[solvekit.ScheduleLabel])
		// One created by a firing that was under way when the schedule
		// was disabled may still be running: wait for it.
		e = waitFor(t, b, e.ID, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		rest, ok := strings.CutPrefix(e.ID, sc.ID+"-")
		require.True(t, ok, e.ID)
		tick, err := strconv.ParseInt(rest, 10, 64)
		require.NoError(t, err)
		require.False(t, ticks[tick], "tick %d fired twice", tick)
		ticks[tick] = true
		lo, hi = min(lo, tick), max(hi, tick)
		require.Len(t, st.runs(e.ID), 1, "execution %s ran once", e.ID)
	}
	require.GreaterOrEqual(t, len(es), 5, "about ten ticks fired")
	require.EqualValues(t, hi-lo+1, len(es), "no tick between the first and the last is missing: %v", ticks)
	require.True(t, sc.NextRun.Unix() <= lo, "the first tick fired is the first planned or later")
	got, err := b.svc.Schedule(ctx, sc.ID)
	require.NoError(t, err)
	require.NotNil(t, got.LastRun)
	// The last tick, unless the disable came between its execution and
	// the schedule's move (then the one before).
	require.Contains(t, []int64{hi - 1, hi}, got.LastRun.Unix())
	require.Equal(t, sc.ID+"-"+strconv.FormatInt(got.LastRun.Unix(), 10), got.LastExecutionID)
}

// TestScheduleCatchUp: ticks missed while no process ran Work (older than
// ScheduleGrace) are dropped by policy skip, and run once (for the last
// missed tick) by policy once; both resume at the next tick.
func TestScheduleCatchUp(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.catch")}})
	ctx := context.Background()
	now := time.Now().UTC()
	// Yearly, on January 1st: the last missed tick and the next one are
	// plain to compute (the test does not run in the first minute of a
	// year).
	thisYear := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	nextYear := thisYear.AddDate(1, 0, 0)
	for _, policy := range []solvekit.CatchUp{solvekit.CatchUpSkip, solvekit.CatchUpOnce} {
		sc, err := b.svc.CreateSchedule(ctx, solvekit.ScheduleRequest{Cron: "0 0 0 1 1 *", JobType: "sched.catch",
			Instance: json.RawMessage(`{}`), CatchUp: policy})
		require.NoError(t, err)
		require.True(t, sc.NextRun.Equal(nextYear), "%v", sc.NextRun)
		// Play three years without any process: the next run is long past.
		require.NoError(t, solvekit.SetScheduleNextRun(ctx, b.svc, sc.ID, thisYear.AddDate(-3, 0, 0)))
		require.Eventually(t, func() bool {
			got, err := b.svc.Schedule(ctx, sc.ID)
			require.NoError(t, err)
			return got.NextRun != nil && got.NextRun.Equal(nextYear)
		}, patience.Scale(20*time.Second), 20*time.Millisecond, string(policy))
		es, _, err := b.svc.List(ctx, solvekit.ListOptions{ScheduleID: sc.ID})
		require.NoError(t, err)
		got, err := b.svc.Schedule(ctx, sc.ID)
		require.NoError(t, err)
		if policy == solvekit.CatchUpSkip {
			require.Empty(t, es, "skip runs none of the missed ticks")
			require.Nil(t, got.LastRun)
			continue
		}
		require.Len(t, es, 1, "once runs one execution for the missed period")
		require.Equal(t, sc.ID+"-"+strconv.FormatInt(thisYear.Unix(), 10), es[0].ID)
		require.True(t, got.LastRun.Equal(thisYear))
		waitFor(t, b, es[0].ID, 20*time.Second)
	}
}

// TestRunAtTwoStepPath: on the path where tasks are written through
// asynq's client (Redis Cluster, Config.AsynqPublicAPI), a due execution
// is queued by the script and then enqueued, and runs once, after its time.
func TestRunAtTwoStepPath(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.twostep")}, noWork: true})
	solvekit.SetFusedSubmit(b.svc, false) // before Work reads it
	ctx := context.Background()
	wctx, cancel := context.WithCancel(ctx)
	worked := make(chan struct{})
	go func() { defer close(worked); _ = b.svc.Work(wctx) }()
	t.Cleanup(func() { cancel(); <-worked })
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sched.twostep", Instance: json.RawMessage(`{}`), RunIn: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, job.StateScheduled, e.State)
	done := waitFor(t, b, e.ID, 20*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	runs := st.runs(e.ID)
	require.Len(t, runs, 1)
	require.False(t, runs[0].Before(*e.RunAt))
}

// TestSubmitManyRunIn: a batch may hold executions due later: they are
// scheduled, without a task, and run once when due, beside the others.
func TestSubmitManyRunIn(t *testing.T) {
	var st startedAt
	b := setup(t, setupOpts{defs: []*job.Definition{st.def("sched.many")}})
	ctx := context.Background()
	es, err := b.svc.SubmitMany(ctx, []solvekit.SubmitRequest{
		{JobType: "sched.many", Instance: json.RawMessage(`{}`)},
		{JobType: "sched.many", Instance: json.RawMessage(`{}`), RunIn: 500 * time.Millisecond},
	})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, es[0].State)
	require.Equal(t, job.StateScheduled, es[1].State)
	for _, e := range es {
		require.Equal(t, job.StateSucceeded, waitFor(t, b, e.ID, 20*time.Second).State)
		require.Len(t, st.runs(e.ID), 1)
	}
	require.False(t, st.runs(es[1].ID)[0].Before(*es[1].RunAt))
}
