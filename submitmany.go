package solvekit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// MaxBatch is the most requests one SubmitMany (POST /executions:batch)
// takes.
const MaxBatch = 1000

// SubmitMany submits several async executions at once, as River's
// InsertMany inserts jobs: every request is validated first, and only when
// all are valid does one Redis script store them all (records, indexes and
// asynq tasks) — all or none. It costs one round trip however many there
// are, which makes it several times faster than as many Submit calls.
//
// An invalid request fails the whole batch with a CodeInvalid error whose
// violations point into the batch: "/3/instance/values" is request 3's
// instance. The requests must name async job types (a sync job runs
// inside its submit) and carry no IdempotencyKey (a batch is not
// deduplicated; choose IDs instead: a chosen ID that exists fails the
// batch with CodeConflict, and nothing is stored). At most MaxBatch
// requests. The executions are returned in the order of the requests.
//
//	reqs := make([]solvekit.SubmitRequest, len(orders))
//	for i, o := range orders {
//		reqs[i] = solvekit.SubmitRequest{JobType: "route", Instance: o.Stops}
//	}
//	es, err := svc.SubmitMany(ctx, reqs)
func (s *Service) SubmitMany(ctx context.Context, reqs []SubmitRequest) ([]*job.Execution, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	ctx, end := s.startCall(ctx, Call{Op: "submit_many", Count: len(reqs)})
	out, err := s.submitMany(ctx, reqs)
	if end != nil {
		end(CallResult{Executions: out, Err: err})
	}
	return out, err
}

// submitMany is SubmitMany without its CallHooks.
func (s *Service) submitMany(ctx context.Context, reqs []SubmitRequest) ([]*job.Execution, error) {
	if len(reqs) > MaxBatch {
		return nil, job.Errorf(job.CodeInvalid, "a batch holds at most %d requests, not %d", MaxBatch, len(reqs))
	}
	items := make([]store.NewExecution, len(reqs))
	invalid := &job.Error{Code: job.CodeInvalid}
	for i, req := range reqs {
		at := "/" + strconv.Itoa(i)
		if req.IdempotencyKey != "" {
			invalid.Violations = append(invalid.Violations, job.Violation{Pointer: at + "/idempotency_key", Keyword: "batch",
				Message: "a batch is not deduplicated by key; choose ids instead"})
			continue
		}
		t, e, input, err := s.prepare(ctx, req)
		if err == nil && t.Def.Kind == job.KindSync {
			err = &job.Error{Code: job.CodeInvalid, Message: "sync job type", Violations: []job.Violation{{Pointer: "/job_type",
				Keyword: "batch", Message: fmt.Sprintf("job type %q is sync; a batch holds async job types only", t.Name())}}}
		}
		if err != nil {
			je, ok := err.(*job.Error)
			if !ok || (je.Code != job.CodeInvalid && je.Code != job.CodeBadRequest && je.Code != job.CodeNotFound) {
				return nil, fmt.Errorf("request %d: %w", i, store.Classify(err))
			}
			if len(je.Violations) == 0 {
				v := job.Violation{Pointer: at, Keyword: string(je.Code), Message: je.Message}
				if je.Code == job.CodeNotFound {
					v.Pointer, v.Keyword = at+"/instance_id", "exists"
					if _, err := s.reg.Lookup(req.JobType); err != nil {
						v.Pointer = at + "/job_type"
					}
				}
				invalid.Violations = append(invalid.Violations, v)
			}
			for _, v := range je.Violations {
				v.Pointer = at + v.Pointer
				invalid.Violations = append(invalid.Violations, v)
			}
			continue
		}
		items[i] = store.NewExecution{E: e, Input: input, JobKey: req.JobKey, Chosen: req.ID != "", Extra: callbackFields(req)}
	}
	if n := len(invalid.Violations); n > 0 {
		invalid.Message = fmt.Sprintf("%d invalid in a batch of %d (nothing stored): %s %s", n, len(reqs),
			invalid.Violations[0].Pointer, invalid.Violations[0].Message)
		return nil, invalid
	}
	out := make([]*job.Execution, len(items))
	now := time.Now()
	for i := range items {
		out[i] = items[i].E
		// A scheduled one (RunAt) gets its task when due (schedules.go).
		if s.fused && items[i].E.State != job.StateScheduled {
			items[i].Task = queue.NewTask(queue.Attempt{ID: items[i].E.ID, Attempt: 1},
				queue.EnqueueOptions{Queue: taskQueue(items[i].E), Timeout: items[i].E.Timeout}, now)
		}
	}
	// The tasks are queued by the same script, so a worker of this process
	// may start a job before the reply is read: starts wait for the
	// submit's publication (see Submit).
	var release []func()
	if s.fused {
		for _, e := range out {
			if done := s.announcing(e.ID); done != nil {
				release = append(release, done)
			}
		}
	}
	err := s.store.CreateMany(ctx, items)
	if err == nil && s.observed() {
		for _, e := range out {
			s.publish(s.transition(e, "", e.State, "submit"))
		}
	}
	for _, done := range release {
		done()
	}
	if err != nil {
		return nil, store.Classify(err)
	}
	if !s.fused {
		for _, e := range out {
			if e.State == job.StateScheduled {
				continue
			}
			a := queue.Attempt{ID: e.ID, Attempt: 1}
			if _, err := s.queue.Enqueue(ctx, a, queue.EnqueueOptions{Queue: taskQueue(e), Timeout: e.Timeout}); err != nil {
				// The record is stored: the sweeper enqueues it after QueuedGrace.
				s.cfg.Logger.Warn("solvekit: enqueue failed; the sweeper will retry", "execution", e.ID, "err", err)
			}
		}
	}
	return out, nil
}
