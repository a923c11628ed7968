package solvekit

import (
	"context"

	"github.com/solvekit/solvekit/internal/store"
)

// PauseJobType pauses (paused true) or resumes a job type for every
// process on this Redis: Submit refuses a paused type's new executions
// with an unavailable error; queued and running ones go on. The flag is
// kept in Redis, so it holds across replicas and restarts; each process
// hears of a change at once (and re-reads the flags every heartbeat
// interval in case it missed one).
func (s *Service) PauseJobType(ctx context.Context, name string, paused bool) error {
	if _, err := s.reg.Lookup(name); err != nil {
		return err
	}
	if err := s.store.SetJobTypePaused(ctx, name, paused); err != nil {
		return store.Classify(err)
	}
	return s.refreshPaused(ctx)
}

// JobTypePaused reports whether a job type is paused (see PauseJobType), as
// this process last heard. Unknown names are not paused.
func (s *Service) JobTypePaused(name string) bool {
	return (*s.pausedTypes.Load())[name]
}

// refreshPaused reads the paused job types from Redis.
func (s *Service) refreshPaused(ctx context.Context) error {
	paused, err := s.store.PausedJobTypes(ctx)
	if err != nil {
		return err
	}
	s.pausedTypes.Store(&paused)
	return nil
}

// Ping checks that Redis answers.
func (s *Service) Ping(ctx context.Context) error {
	return store.Classify(s.rdb.Ping(ctx).Err())
}
