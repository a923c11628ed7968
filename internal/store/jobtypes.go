package store

import (
	"context"
	"fmt"
)

// pausedKey is the hash of paused job types (name → "1").
func (k keys) paused() string { return k.p + ":jt:paused" }

// ControlChannel is the Pub/Sub channel on which a change of a job type's
// paused flag is announced (the payload is the job type's name).
func (s *Store) ControlChannel() string { return s.k.p + ":ctl" }

// SetJobTypePaused records a job type as paused or not and announces it on
// the control channel, in one transaction.
func (s *Store) SetJobTypePaused(ctx context.Context, name string, paused bool) error {
	pipe := s.rdb.TxPipeline()
	if paused {
		pipe.HSet(ctx, s.k.paused(), name, "1")
	} else {
		pipe.HDel(ctx, s.k.paused(), name)
	}
	pipe.Publish(ctx, s.ControlChannel(), name)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: pause job type %s: %w", name, err)
	}
	return nil
}

// PausedJobTypes returns the names of the paused job types.
func (s *Store) PausedJobTypes(ctx context.Context) (map[string]bool, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.paused()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: paused job types: %w", err)
	}
	out := make(map[string]bool, len(m))
	for name := range m {
		out[name] = true
	}
	return out, nil
}
