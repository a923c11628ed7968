package solvekit

import (
	"context"
	"time"
)

// SetScheduleNextRun overwrites schedule id's next run, so that tests can
// play a period when no process ran Work.
func SetScheduleNextRun(ctx context.Context, s *Service, id string, next time.Time) error {
	return s.store.SetScheduleNextRun(ctx, id, next)
}
