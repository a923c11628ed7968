package solvekit

import (
	"context"
	"errors"
	"time"

	"github.com/solvekit/solvekit/job"
)

// Retention: finished executions and unused instances are removed once
// their period (Config.SucceededRetention and the fields after it) has
// passed, by one process at a time. Every Service runs the loop, workers
// and API-only processes alike, so that a deployment without Work (sync
// jobs only) is swept too; a lease in Redis ("retention") lets one of them
// sweep while the others only try the lease.
//
// A sweep is bounded: it removes at most RetentionBatch expired
// executions, state by state (succeeded, stopped, failed, timed out), then
// pages through at most RetentionBatch old
// instances, resuming where the last sweep stopped. Only terminal
// executions are read (store.FinishedIn reads the terminal states'
// indexes), and the delete script refuses anything queued or running, so
// an execution relaunched meanwhile stays.

// retentionSweep is the state one process's retention loop keeps between
// sweeps.
type retentionSweep struct {
	// instOffset is where the next sweep resumes in the old instances
	// (the ones before it are still in use).
	instOffset int64
}

// retentionResult says what one retention sweep removed.
type retentionResult struct {
	executions, instances int
	// more is true when the sweep stopped at its batch bound: expired
	// records may be left, and the next sweep should come soon.
	more bool
}

// retentionLoop runs retention sweeps until ctx ends: every
// RetentionInterval (the first one RetentionInterval after New), or every
// SweepInterval while a backlog remains.
func (s *Service) retentionLoop(ctx context.Context) {
	if s.cfg.DisableRetention {
		return
	}
	var st retentionSweep
	wait := s.cfg.RetentionInterval
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = s.cfg.RetentionInterval
		ok, err := s.store.TryLock(ctx, "retention", s.workerID, 3*max(s.cfg.RetentionInterval, s.cfg.SweepInterval))
		if err != nil || !ok {
			continue
		}
		res, err := s.sweepRetention(ctx, &st, nowUTC())
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("solvekit: retention sweep failed", "err", err)
		}
		if res.executions+res.instances > 0 {
			s.cfg.Logger.Debug("solvekit: retention sweep", "executions", res.executions, "instances", res.instances)
		}
		if res.more {
			wait = s.cfg.SweepInterval
		}
	}
}

// retentionClass is a terminal state and how long it is kept.
type retentionClass struct {
	state  job.State
	period time.Duration
}

// retentionClasses pairs each terminal state with its retention period
// (timed-out executions are failures: FailedRetention).
func (s *Service) retentionClasses() []retentionClass {
	return []retentionClass{
		{job.StateSucceeded, s.cfg.SucceededRetention},
		{job.StateStopped, s.cfg.StoppedRetention},
		{job.StateFailed, s.cfg.FailedRetention},
		{job.StateTimedOut, s.cfg.FailedRetention},
	}
}

// sweepRetention runs one bounded retention sweep as of now: it removes
// up to RetentionBatch executions whose state's period has passed since
// they finished, then pages through up to RetentionBatch instances
// created before InstanceRetention and removes those no stored execution
// names.
func (s *Service) sweepRetention(ctx context.Context, st *retentionSweep, now time.Time) (retentionResult, error) {
	var res retentionResult
	if s.cfg.DisableRetention {
		return res, nil
	}
	budget := int64(s.cfg.RetentionBatch)
	for _, p := range s.retentionClasses() {
		if p.period < 0 || budget == 0 {
			continue
		}
		ids, err := s.store.FinishedIn(ctx, p.state, now.Add(-p.period), budget)
		if err != nil {
			return res, err
		}
		budget -= int64(len(ids))
		for _, id := range ids {
			err := s.deleteExecution(ctx, id)
			switch {
			case err == nil:
				res.executions++
			case errors.Is(err, job.ErrNotFound), errors.Is(err, job.ErrConflict):
				// Deleted by someone else, or relaunched meanwhile.
			default:
				return res, err
			}
		}
	}
	if budget == 0 {
		res.more = true
	}
	if s.cfg.InstanceRetention < 0 {
		return res, nil
	}
	limit := int64(s.cfg.RetentionBatch)
	ids, err := s.store.InstancesCreatedBefore(ctx, now.Add(-s.cfg.InstanceRetention), st.instOffset, limit)
	if err != nil {
		return res, err
	}
	n, err := s.store.DeleteUnusedInstances(ctx, ids)
	if err != nil {
		return res, err
	}
	res.instances = n
	// The kept ones stay before the next page; past the last page, start
	// again from the oldest.
	st.instOffset += int64(len(ids) - n)
	if int64(len(ids)) < limit {
		st.instOffset = 0
	} else {
		res.more = true
	}
	return res, nil
}
