package solvekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// Scheduled and periodic executions (docs/schedules.md).
//
// An execution submitted with SubmitRequest.RunAt (or RunIn) is stored in
// state scheduled, without a queue task, and its id waits in a set of due
// executions scored by run time. A periodic Schedule is a stored
// definition whose id waits in a set scored by its next run. Both sets are
// read by the scheduler that every Work call runs (schedulerLoop), in
// every process: everything is in Redis, so nothing is lost when processes
// restart, and the steps that must happen once are atomic there:
//
//   - A due execution moves to queued, with its asynq task written in the
//     same script (store.Promote), only by the process that finds it still
//     scheduled.
//   - A schedule's tick creates the execution with the id
//     "<schedule id>-<tick, Unix seconds>": an id is created once
//     (store.CreateChosen refuses one that exists), so that is the claim
//     of the tick. The schedule's next run then moves on only if nobody
//     moved it meanwhile (store.AdvanceSchedule).

// ScheduleLabel is the metadata label that names the schedule an
// execution was created by (ListOptions.ScheduleID filters on it).
const ScheduleLabel = "solvekit.schedule"

// planRun applies req's RunAt or RunIn to e: a run time in the future
// makes it scheduled.
func (s *Service) planRun(t *registry.Type, e *job.Execution, req SubmitRequest) error {
	if req.RunAt.IsZero() && req.RunIn == 0 {
		return nil
	}
	invalid := func(pointer, msg string) error {
		return &job.Error{Code: job.CodeInvalid, Message: msg,
			Violations: []job.Violation{{Pointer: pointer, Keyword: "run_at", Message: msg}}}
	}
	switch {
	case !req.RunAt.IsZero() && req.RunIn != 0:
		return invalid("/run_in", "give either run_at or run_in, not both")
	case req.RunIn < 0:
		return invalid("/run_in", "run_in must not be negative")
	case t.Def.Kind == job.KindSync:
		return invalid("/run_at", fmt.Sprintf("job type %q is sync: it runs inside the request and cannot be scheduled", t.Name()))
	}
	now := nowUTC()
	at := req.RunAt
	if req.RunIn != 0 {
		at = now.Add(req.RunIn)
	}
	at = at.UTC().Truncate(time.Millisecond)
	if !at.After(now) {
		return nil // due already: queued at once
	}
	e.State, e.RunAt = job.StateScheduled, &at
	return nil
}

// submitScheduled stores scheduled execution e; the scheduler queues it.
func (s *Service) submitScheduled(ctx context.Context, req SubmitRequest, e *job.Execution, input json.RawMessage) (*job.Execution, error) {
	if err := s.create(ctx, req, e, input, nil); err != nil {
		return submitted(e, nil, err)
	}
	if s.observed() {
		s.publish(s.transition(e, "", job.StateScheduled, "submit"))
	}
	return e, nil
}

// withScheduleLabel returns md with the label naming schedule id added
// (md itself when id is empty).
func withScheduleLabel(md map[string]string, id string) map[string]string {
	if id == "" {
		return md
	}
	out := make(map[string]string, len(md)+1)
	maps.Copy(out, md)
	out[ScheduleLabel] = id
	return out
}

// schedulerBatch is how many due executions or schedules the scheduler
// reads at a time.
const schedulerBatch = 100

// schedulerLoop queues due executions and fires due schedules every
// SchedulerInterval until ctx ends.
func (s *Service) schedulerLoop(ctx context.Context) {
	defer s.startExperimentLoop(ctx)() // experiments.go
	t := time.NewTicker(s.cfg.SchedulerInterval)
	defer t.Stop()
	for {
		s.promoteDue(ctx)
		s.fireSchedules(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// promoteDue queues the scheduled executions whose run time has come.
func (s *Service) promoteDue(ctx context.Context) {
	for ctx.Err() == nil {
		ids, err := s.store.DueExecutions(ctx, nowUTC(), schedulerBatch)
		if err != nil || len(ids) == 0 {
			return
		}
		recs, err := s.store.GetMany(ctx, ids)
		if err != nil {
			return
		}
		found := make(map[string]*job.Execution, len(recs))
		for _, e := range recs {
			found[e.ID] = e
		}
		for _, id := range ids {
			e := found[id]
			if e == nil {
				e = &job.Execution{ID: id} // deleted: only leaves the due set
			}
			s.promote(ctx, e)
		}
		if len(ids) < schedulerBatch {
			return
		}
	}
}

// promote queues scheduled execution e, with its task written by the same
// script where the task path allows (as Submit does).
func (s *Service) promote(ctx context.Context, e *job.Execution) {
	var task *store.Task
	if s.fused && e.State == job.StateScheduled {
		task = queue.NewTask(queue.Attempt{ID: e.ID, Attempt: e.Attempt}, queue.EnqueueOptions{Queue: taskQueue(e), Timeout: e.Timeout}, time.Now())
	}
	var announced func()
	if task != nil {
		announced = s.announcing(e.ID)
	}
	moved, err := s.store.Promote(ctx, e, task)
	if moved && s.observed() {
		s.publish(s.transition(e, job.StateScheduled, job.StateQueued, "due"))
	}
	if announced != nil {
		announced()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Warn("solvekit: could not queue a scheduled execution; retrying", "execution", e.ID, "err", err)
		}
		return
	}
	if moved && task == nil {
		if _, err := s.queue.Enqueue(ctx, queueAttempt(e.ID, e.Attempt), queueOpts(taskQueue(e), e.Timeout, 0)); err != nil {
			s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", e.ID, "err", err)
		}
	}
}

// CatchUp says what a periodic schedule does about the ticks it missed
// while no process ran Work (ticks older than Config.ScheduleGrace); it is
// job.CatchUp.
type CatchUp = job.CatchUp

// Catch-up policies.
const (
	// CatchUpSkip drops the missed ticks: the schedule resumes with the
	// ticks of the last ScheduleGrace. The default.
	CatchUpSkip = job.CatchUpSkip
	// CatchUpOnce runs one execution for the whole missed period (for its
	// last missed tick), then resumes as CatchUpSkip does.
	CatchUpOnce = job.CatchUpOnce
)

// Schedule is a periodic schedule (job.Schedule): each tick of its cron
// spec creates an execution of its job type on its instance and config,
// with the id "<schedule id>-<tick as Unix seconds>", the schedule's id in
// Execution.ScheduleID and the label ScheduleLabel. Ticks fire once
// whatever the number of processes (see docs/schedules.md).
type Schedule = job.Schedule

// ScheduleRequest asks for a new periodic schedule; its fields mean what
// Schedule's of the same names do (TimeZone "" is UTC, CatchUp "" is
// CatchUpSkip).
type ScheduleRequest struct {
	Name       string
	Cron       string
	TimeZone   string
	JobType    string
	Instance   json.RawMessage
	InstanceID string
	Config     json.RawMessage
	Metadata   map[string]string
	Owner      string
	// Disabled creates the schedule without firing it.
	Disabled bool
	CatchUp  CatchUp
}

// ScheduleUpdate changes a schedule; nil fields are left as they are.
// Setting Instance clears InstanceID and the other way round.
type ScheduleUpdate struct {
	Name       *string
	Cron       *string
	TimeZone   *string
	JobType    *string
	Instance   *json.RawMessage
	InstanceID *string
	Config     *json.RawMessage
	Metadata   *map[string]string
	Enabled    *bool
	CatchUp    *CatchUp
}

// ScheduleFilter filters Schedules; zero fields do not filter.
type ScheduleFilter struct {
	Owner   string
	JobType string
}

// cronParser reads five-field specs, six with seconds first, and
// descriptors (@hourly, @every 5m).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseCron reads spec in time zone tz ("" is UTC).
func parseCron(spec, tz string) (cron.Schedule, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || strings.EqualFold(tz, "local") {
			return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("unknown time zone %q", tz),
				Violations: []job.Violation{{Pointer: "/time_zone", Keyword: "format", Message: "an IANA time zone such as Europe/Paris"}}}
		}
		loc = l
	}
	if strings.Contains(spec, "TZ=") {
		return nil, &job.Error{Code: job.CodeInvalid, Message: "give the time zone in time_zone, not in the cron spec",
			Violations: []job.Violation{{Pointer: "/cron", Keyword: "format", Message: "no TZ= prefix; use time_zone"}}}
	}
	sc, err := cronParser.Parse(spec)
	if err != nil {
		return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("invalid cron spec %q: %v", spec, err),
			Violations: []job.Violation{{Pointer: "/cron", Keyword: "format",
				Message: "five fields (minute hour day-of-month month day-of-week), six with seconds first, or @hourly, @daily, @every 10m..."}}}
	}
	if ss, ok := sc.(*cron.SpecSchedule); ok {
		ss.Location = loc
	}
	return sc, nil
}

// nextTick is the first tick of sc after t, in UTC to the millisecond.
func nextTick(sc cron.Schedule, t time.Time) *time.Time {
	n := sc.Next(t)
	if n.IsZero() {
		return nil // a spec that never fires again (e.g. February 30)
	}
	n = n.UTC().Truncate(time.Millisecond)
	return &n
}

// check validates a schedule's definition: its spec, time zone, policy,
// and a submit of its execution (job type, instance, config) as a dry run.
func (s *Service) checkSchedule(ctx context.Context, sc *Schedule) (cron.Schedule, error) {
	spec, err := parseCron(sc.Cron, sc.TimeZone)
	if err != nil {
		return nil, err
	}
	if sc.CatchUp == "" {
		sc.CatchUp = CatchUpSkip
	}
	if sc.CatchUp != CatchUpSkip && sc.CatchUp != CatchUpOnce {
		return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("unknown catch-up policy %q", sc.CatchUp),
			Violations: []job.Violation{{Pointer: "/catch_up", Keyword: "enum", Message: "skip or once"}}}
	}
	if len(sc.Metadata) >= store.MaxLabels {
		return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("a schedule's metadata has at most %d labels (its executions get one more)", store.MaxLabels-1),
			Violations: []job.Violation{{Pointer: "/metadata", Keyword: "maxProperties", Message: fmt.Sprintf("at most %d labels", store.MaxLabels-1)}}}
	}
	if _, _, _, err := s.prepare(ctx, s.scheduleSubmit(sc, "")); err != nil {
		return nil, store.Classify(err)
	}
	if t, _ := s.reg.Lookup(sc.JobType); t != nil && t.Def.Kind == job.KindSync {
		return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("job type %q is sync: only async job types can be scheduled", sc.JobType),
			Violations: []job.Violation{{Pointer: "/job_type", Keyword: "kind", Message: "an async job type"}}}
	}
	return spec, nil
}

// scheduleSubmit is the submit of sc's execution with id id.
func (s *Service) scheduleSubmit(sc *Schedule, id string) SubmitRequest {
	return SubmitRequest{ID: id, JobType: sc.JobType, Instance: sc.Instance, InstanceID: sc.InstanceID,
		Config: sc.Config, Name: sc.Name, Metadata: withScheduleLabel(sc.Metadata, sc.ID), Owner: sc.Owner,
		scheduleID: sc.ID}
}

// CreateSchedule validates and stores a periodic schedule, which fires
// from its next tick on (unless Disabled). A bad spec, time zone, policy,
// job type, instance or config is CodeInvalid, and nothing is stored.
func (s *Service) CreateSchedule(ctx context.Context, req ScheduleRequest) (*Schedule, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	tz := req.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	sc := &Schedule{ID: u.String(), Name: req.Name, Cron: req.Cron, TimeZone: tz, JobType: req.JobType,
		Instance: req.Instance, InstanceID: req.InstanceID, Config: req.Config, Metadata: req.Metadata,
		Owner: req.Owner, Enabled: !req.Disabled, CatchUp: req.CatchUp, CreatedAt: nowUTC().Truncate(time.Millisecond)}
	spec, err := s.checkSchedule(ctx, sc)
	if err != nil {
		return nil, err
	}
	if sc.Enabled {
		sc.NextRun = nextTick(spec, sc.CreatedAt)
	}
	def, err := encodeSchedule(sc)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutSchedule(ctx, sc.ID, def, sc.NextRun, sc.CreatedAt, true, false); err != nil {
		return nil, store.Classify(err)
	}
	return sc, nil
}

// encodeSchedule is the stored definition of sc: what the scheduler keeps
// in fields of their own (times, last execution) is left out.
func encodeSchedule(sc *Schedule) ([]byte, error) {
	d := *sc
	d.ID, d.CreatedAt, d.NextRun, d.LastRun, d.LastExecutionID, d.LastError = "", time.Time{}, nil, nil, "", ""
	return json.Marshal(&d)
}

func decodeSchedule(r *store.ScheduleRecord) (*Schedule, error) {
	var sc Schedule
	if err := json.Unmarshal(r.Def, &sc); err != nil {
		return nil, fmt.Errorf("solvekit: schedule %s: %w", r.ID, err)
	}
	sc.ID, sc.CreatedAt, sc.NextRun, sc.LastRun = r.ID, r.CreatedAt.UTC(), utcPtr(r.NextRun), utcPtr(r.LastRun)
	sc.LastExecutionID, sc.LastError = r.LastExecutionID, r.LastError
	return &sc, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Schedule returns periodic schedule id.
func (s *Service) Schedule(ctx context.Context, id string) (*Schedule, error) {
	r, err := s.store.GetSchedule(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	return decodeSchedule(r)
}

// Schedules returns the periodic schedules that match f, oldest first.
func (s *Service) Schedules(ctx context.Context, f ScheduleFilter) ([]*Schedule, error) {
	rs, err := s.store.ListSchedules(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	out := make([]*Schedule, 0, len(rs))
	for _, r := range rs {
		sc, err := decodeSchedule(r)
		if err != nil {
			return nil, err
		}
		if (f.Owner == "" || sc.Owner == f.Owner) && (f.JobType == "" || sc.JobType == f.JobType) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// UpdateSchedule changes a periodic schedule and returns it. A change of
// its timing (cron spec, time zone, enabled) plans its next tick from now;
// other changes apply from the next tick on.
func (s *Service) UpdateSchedule(ctx context.Context, id string, u ScheduleUpdate) (*Schedule, error) {
	sc, err := s.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	timing := false
	set := func(dst *string, v *string, isTiming bool) {
		if v != nil && *v != *dst {
			*dst, timing = *v, timing || isTiming
		}
	}
	set(&sc.Name, u.Name, false)
	set(&sc.Cron, u.Cron, true)
	set(&sc.TimeZone, u.TimeZone, true)
	set(&sc.JobType, u.JobType, false)
	if u.Instance != nil {
		sc.Instance, sc.InstanceID = *u.Instance, ""
	}
	if u.InstanceID != nil {
		sc.InstanceID, sc.Instance = *u.InstanceID, nil
	}
	if u.Config != nil {
		sc.Config = *u.Config
	}
	if u.Metadata != nil {
		sc.Metadata = *u.Metadata
	}
	if u.Enabled != nil && *u.Enabled != sc.Enabled {
		sc.Enabled, timing = *u.Enabled, true
	}
	if u.CatchUp != nil {
		sc.CatchUp = *u.CatchUp
	}
	spec, err := s.checkSchedule(ctx, sc)
	if err != nil {
		return nil, err
	}
	if timing {
		sc.NextRun = nil
		if sc.Enabled {
			sc.NextRun = nextTick(spec, nowUTC())
		}
	}
	def, err := encodeSchedule(sc)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutSchedule(ctx, id, def, sc.NextRun, sc.CreatedAt, false, !timing); err != nil {
		return nil, store.Classify(err)
	}
	return s.Schedule(ctx, id)
}

// DeleteSchedule removes a periodic schedule; the executions it created
// stay.
func (s *Service) DeleteSchedule(ctx context.Context, id string) error {
	return store.Classify(s.store.DeleteSchedule(ctx, id))
}

// scheduleExecutionID is the id of the execution schedule id creates for
// tick t: the same in every process, so a tick creates one execution.
func scheduleExecutionID(id string, t time.Time) string {
	return id + "-" + strconv.FormatInt(t.Unix(), 10)
}

// fireSchedules handles the ticks of every schedule that are due.
func (s *Service) fireSchedules(ctx context.Context) {
	ids, err := s.store.DueSchedules(ctx, nowUTC(), schedulerBatch)
	if err != nil {
		return
	}
	for _, id := range ids {
		s.fireSchedule(ctx, id)
	}
}

// maxTicksPerPass bounds how many late ticks of one schedule one pass of
// the scheduler fires; the next pass goes on.
const maxTicksPerPass = 100

// fireSchedule handles schedule id's due ticks, one at a time: it creates
// the tick's execution (or finds another process did), then moves the
// next run on, unless another process moved it first.
func (s *Service) fireSchedule(ctx context.Context, id string) {
	for range maxTicksPerPass {
		r, err := s.store.GetSchedule(ctx, id)
		if err != nil || r.NextRun == nil {
			return
		}
		now := nowUTC()
		if r.NextRun.After(now) || ctx.Err() != nil {
			return
		}
		adv := store.Advance{Handled: *r.NextRun}
		sc, err := decodeSchedule(r)
		var spec cron.Schedule
		if err == nil {
			spec, err = parseCron(sc.Cron, sc.TimeZone)
		}
		if err != nil || !sc.Enabled {
			// Unreadable, or disabled while planned: plan nothing more.
			if err != nil {
				adv.Error = err.Error()
			}
			_ = s.store.AdvanceSchedule(ctx, id, adv)
			return
		}
		tick, fire := adv.Handled, true
		adv.Next = nextTick(spec, tick)
		if now.Sub(tick) > s.cfg.ScheduleGrace {
			// Missed while no process ran Work.
			resume := nextTick(spec, now.Add(-s.cfg.ScheduleGrace))
			adv.Next = resume
			fire = sc.CatchUp == CatchUpOnce
			for n := 0; fire && n < 100000; n++ {
				nt := nextTick(spec, tick)
				if nt == nil || resume == nil || !nt.Before(*resume) {
					break
				}
				tick = *nt
			}
		}
		if fire {
			eid := scheduleExecutionID(id, tick)
			_, err := s.Submit(ctx, s.scheduleSubmit(sc, eid))
			switch {
			case err == nil || job.ErrorCode(err) == job.CodeConflict:
				// Created, here or by another process: the tick fired.
				adv.Fired, adv.ExecutionID = &tick, eid
			case job.ErrorCode(err) == job.CodeUnavailable || job.ErrorCode(err) == job.CodeOutcomeUnknown || ctx.Err() != nil:
				return // try the tick again at the next pass
			default:
				// The job type, instance or config no longer does: the
				// tick is lost, and said so on the schedule.
				adv.Error = fmt.Sprintf("tick %s: %v", tick.Format(time.RFC3339), err)
				s.cfg.Logger.Warn("solvekit: a schedule's tick could not create its execution", "schedule", id, "tick", tick, "err", err)
			}
		}
		if err := s.store.AdvanceSchedule(ctx, id, adv); err != nil {
			if !errors.Is(err, store.ErrScheduleMoved) && ctx.Err() == nil {
				s.cfg.Logger.Warn("solvekit: could not move a schedule on", "schedule", id, "err", err)
			}
			return
		}
	}
}
