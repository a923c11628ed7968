package solvekit

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/solvekit/solvekit/internal/store"
)

// SetFusedSubmit switches the one-script submit (record and asynq task
// together) on or off, so that tests cover the two-step path used on
// Redis Cluster too.
func SetFusedSubmit(s *Service, on bool) { s.fused = on }

// FusedSubmit reports whether Submit writes the record and its task in one
// script.
func FusedSubmit(s *Service) bool { return s.fused }

// DoneHeard counts the done notifications that reached a Wait.
func DoneHeard(s *Service) int64 { return s.rt.heard.Load() }

// WaitState counts the Wait side's bookkeeping, which is empty when nobody
// waits: subscriptions (executions waited on) and unconfirmed SUBSCRIBEs.
func WaitState(s *Service) (waiters, pending int) {
	s.rt.wmu.Lock()
	defer s.rt.wmu.Unlock()
	return len(s.rt.waiters), len(s.rt.pending)
}

// SetAfterStart sets a function a worker runs between the Start of an
// attempt and its registration in the runtime (the start window).
func SetAfterStart(s *Service, f func(id string)) { s.afterStart = f }

// SetAfterCreate sets a function a fused Submit runs between the create
// script's reply and publishing the submit to subscribers.
func SetAfterCreate(s *Service, f func(id string)) { s.afterCreate = f }

// SetWaitBlocked sets a function Wait runs each time it has read a record
// that is not terminal and is about to block for a notification.
func SetWaitBlocked(s *Service, f func(id string)) { s.waitBlocked = f }

// CancelsHeard counts the cancel notifications the service received.
func CancelsHeard(s *Service) int64 { return s.rt.cancelsHeard.Load() }

// SetRecordRetry sets how a worker retries writing an attempt's start or
// end (first delay, longest delay, total bound) until the test ends.
func SetRecordRetry(t interface{ Cleanup(func()) }, first, max, within time.Duration) {
	old := recordRetry
	recordRetry.First, recordRetry.Max, recordRetry.Within = first, max, within
	t.Cleanup(func() { recordRetry = old })
}

// StoreOf returns the service's execution store (the engine tests look
// into).
func StoreOf(s *Service) *store.Store { return s.store }

// RedisOf returns the service's Redis client.
func RedisOf(s *Service) redis.UniversalClient { return s.rdb }

// InspectorOf returns asynq's inspector on the service's queues.
func InspectorOf(s *Service) *asynq.Inspector { return s.queue.Inspector() }

// AgeIdempotencyClaims makes every idempotency claim count as settled (its
// execution is either stored or never will be) until the test ends.
func AgeIdempotencyClaims(t interface{ Cleanup(func()) }) {
	old := claimSettle
	claimSettle = -time.Hour
	t.Cleanup(func() { claimSettle = old })
}

// RetentionSweeper returns a function that runs one retention sweep of the
// service as of now, keeping its place between calls as the service's
// retention loop does; it reports how many executions and instances it
// removed and whether it stopped at its batch bound.
func RetentionSweeper(s *Service) func(now time.Time) (executions, instances int, more bool, err error) {
	var st retentionSweep
	return func(now time.Time) (int, int, bool, error) {
		res, err := s.sweepRetention(context.Background(), &st, now)
		return res.executions, res.instances, res.more, err
	}
}
