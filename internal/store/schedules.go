package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Scheduled executions (SubmitRequest.RunAt) wait in the due set, scored
// by their run time, until a scheduler promotes them (Promote). Periodic
// schedules are hashes (fields def, created_at, next_run, last_run,
// last_execution_id, last_error) listed in one set by creation time; the
// enabled ones are in a set scored by their next run, which the scheduler
// reads (DueSchedules).
var (
	promoteScript  = script("sched_promote")
	advanceScript  = script("sched_advance")
	schedPutScript = script("sched_put")
)

// due is the set of scheduled executions by run time (ms).
func (k keys) due() string { return k.p + ":sched:due" }

// schedule is one periodic schedule's hash.
func (k keys) schedule(id string) string { return k.p + ":sched:s:" + id }

// schedules holds every schedule's id by creation time (ms).
func (k keys) schedules() string { return k.p + ":sched:all" }

// schedNext holds the enabled schedules' ids by next run (ms).
func (k keys) schedNext() string { return k.p + ":sched:next" }

// DueExecutions returns up to limit ids of scheduled executions whose run
// time is not after now, earliest first.
func (s *Store) DueExecutions(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	return s.dueIn(ctx, s.k.due(), now, limit)
}

func (s *Store) dueIn(ctx context.Context, key string, now time.Time, limit int64) ([]string, error) {
	var ids []string
	err := s.read(ctx, func() (err error) {
		ids, err = s.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: ms(now), Count: limit}).Result()
		return err
	})
	return ids, err
}

// Promote moves scheduled execution e, when it is still scheduled, to
// queued, and writes its queue task in the same step when task is not
// nil. It reports whether this call moved it: false when another process
// did, or the execution was cancelled or deleted.
func (s *Store) Promote(ctx context.Context, e *job.Execution, task *Task) (bool, error) {
	keys := []string{s.k.meta(e.ID), s.k.due(), s.k.ixState(job.StateScheduled)}
	argv := []any{e.ID, "", "0", "", "", "", ""}
	published := ""
	if task != nil {
		if q := task.QueuesKey + "\x00" + task.Queue; !s.queuePublished(q) {
			published, argv[2] = q, "1"
		}
		keys = append(keys, task.Key, task.PendingKey, task.QueuesKey)
		argv = []any{e.ID, "t", argv[2], task.ID, task.Msg, task.Queue, task.PendingSince}
	}
	n, err := promoteScript.Run(ctx, s.rdb, keys, argv...).Int()
	if err != nil {
		return false, fmt.Errorf("store: promote %s: %w", e.ID, err)
	}
	if published != "" {
		s.queues.Store(published, true)
	}
	return n == 1, nil
}

// ScheduleRecord is a periodic schedule as stored: its definition (JSON,
// encoded by the caller) and the times the scheduler keeps.
type ScheduleRecord struct {
	ID        string
	Def       []byte
	CreatedAt time.Time
	// NextRun is nil when the schedule is disabled (or has no next run).
	NextRun, LastRun *time.Time
	LastExecutionID  string
	LastError        string
}

func scheduleNotFound(id string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("schedule %q not found", id)}
}

func msOrEmpty(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ms(*t)
}

// PutSchedule creates (create true) or updates schedule id with definition
// def and next run next (nil: not planned). keepNext keeps the stored
// next run of an update. Creating an id that exists is CodeConflict;
// updating one that does not is CodeNotFound.
func (s *Store) PutSchedule(ctx context.Context, id string, def []byte, next *time.Time, created time.Time, create, keepNext bool) error {
	mode, keep := "u", "0"
	if create {
		mode = "c"
	}
	if keepNext {
		keep = "1"
	}
	keys := []string{s.k.schedule(id), s.k.schedules(), s.k.schedNext()}
	n, err := s.runScript(ctx, schedPutScript, keys, id, def, msOrEmpty(next), ms(created), mode, keep).Int()
	if err != nil {
		return fmt.Errorf("store: schedule %s: %w", id, err)
	}
	if n == 0 {
		if create {
			return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("schedule %q exists", id)}
		}
		return scheduleNotFound(id)
	}
	return nil
}

// GetSchedule reads schedule id.
func (s *Store) GetSchedule(ctx context.Context, id string) (*ScheduleRecord, error) {
	var m map[string]string
	err := s.read(ctx, func() (err error) {
		m, err = s.rdb.HGetAll(ctx, s.k.schedule(id)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(m) == 0 || m["def"] == "" {
		return nil, scheduleNotFound(id)
	}
	return decodeSchedule(id, m), nil
}

func decodeSchedule(id string, m map[string]string) *ScheduleRecord {
	return &ScheduleRecord{ID: id, Def: []byte(m["def"]), CreatedAt: parseMS(m["created_at"]),
		NextRun: parseMSPtr(m["next_run"]), LastRun: parseMSPtr(m["last_run"]),
		LastExecutionID: m["last_execution_id"], LastError: m["last_error"]}
}

// ListSchedules returns every schedule, oldest first. Schedules are few
// (each is a definition somebody wrote), so they are read in one go.
func (s *Store) ListSchedules(ctx context.Context) ([]*ScheduleRecord, error) {
	var out []*ScheduleRecord
	err := s.read(ctx, func() error {
		out = out[:0]
		ids, err := s.rdb.ZRange(ctx, s.k.schedules(), 0, -1).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HGetAll(ctx, s.k.schedule(id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, c := range cmds {
			if m := c.Val(); m["def"] != "" {
				out = append(out, decodeSchedule(ids[i], m))
			}
		}
		return nil
	})
	return out, err
}

// DeleteSchedule removes schedule id (the executions it created stay).
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.k.schedule(id))
		p.ZRem(ctx, s.k.schedules(), id)
		p.ZRem(ctx, s.k.schedNext(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete schedule %s: %w", id, err)
	}
	if del.Val() == 0 {
		return scheduleNotFound(id)
	}
	return nil
}

// DueSchedules returns up to limit ids of enabled schedules whose next run
// is not after now, earliest first.
func (s *Store) DueSchedules(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	return s.dueIn(ctx, s.k.schedNext(), now, limit)
}

// ErrScheduleMoved is AdvanceSchedule's answer when the schedule's next
// run was not the one handled any more: another process handled the tick,
// or the schedule was updated or deleted meanwhile.
var ErrScheduleMoved = errors.New("store: schedule moved meanwhile")

// Advance is what AdvanceSchedule writes after handling one tick.
type Advance struct {
	// Handled is the next run the caller read and handled.
	Handled time.Time
	// Next is the following run (nil: none).
	Next *time.Time
	// Fired, when not nil, is the tick an execution was created for, with
	// its id.
	Fired       *time.Time
	ExecutionID string
	// Error is why the tick's execution could not be created ("" when it
	// was, or none was due).
	Error string
}

// AdvanceSchedule moves schedule id from the run it handled to the next,
// only if no one moved it first (ErrScheduleMoved otherwise).
func (s *Store) AdvanceSchedule(ctx context.Context, id string, a Advance) error {
	keys := []string{s.k.schedule(id), s.k.schedNext()}
	n, err := advanceScript.Run(ctx, s.rdb, keys, id, ms(a.Handled), msOrEmpty(a.Next), msOrEmpty(a.Fired),
		a.ExecutionID, a.Error).Int()
	if err != nil {
		return fmt.Errorf("store: advance schedule %s: %w", id, err)
	}
	if n == 0 {
		return ErrScheduleMoved
	}
	return nil
}

// SetScheduleNextRun overwrites schedule id's next run, for tests that
// play a period when no process was running.
func (s *Store) SetScheduleNextRun(ctx context.Context, id string, next time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.schedule(id), "next_run", ms(next))
		p.ZAdd(ctx, s.k.schedNext(), redis.Z{Score: float64(next.UnixMilli()), Member: id})
		return nil
	})
	return err
}
