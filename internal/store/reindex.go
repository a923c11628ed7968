package store

import (
	"context"
	"fmt"

	"github.com/solvekit/solvekit/job"
)

// Reindex writes the listing indexes of every execution recorded in
// 0.1.0's index of all executions (ix:all), one atomic script per record,
// then deletes 0.1.0's indexes (all, per state, per job type, per owner).
// It is idempotent and safe while the service runs; it returns how many
// records it indexed. A store without 0.1.0's data does nothing.
func (s *Store) Reindex(ctx context.Context) (int, error) {
	n := 0
	var cursor uint64
	for {
		ids, next, err := s.rdb.ZScan(ctx, s.k.oldIxAll(), cursor, "*", 500).Result()
		if err != nil {
			return n, fmt.Errorf("store: reindex: %w", err)
		}
		for i := 0; i < len(ids); i += 2 { // member, score
			id := ids[i]
			ok, err := reindexScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.ixState(job.StateSucceeded), s.k.ixJobTypes()}, id).Int()
			if err != nil {
				return n, fmt.Errorf("store: reindex %s: %w", id, err)
			}
			n += ok
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if n == 0 {
		return 0, nil
	}
	old := []string{s.k.oldIxAll()}
	for _, st := range job.States {
		old = append(old, s.k.ixState(st))
	}
	types, err := s.jobTypes(ctx)
	if err != nil {
		return n, err
	}
	for _, t := range types {
		old = append(old, s.k.p+":ix:jt:"+t)
	}
	it := s.rdb.Scan(ctx, 0, escapeGlob(s.k.p)+":ix:own:*", 500).Iterator()
	for it.Next(ctx) {
		old = append(old, it.Val())
	}
	if err := it.Err(); err != nil {
		return n, err
	}
	for _, k := range old {
		if err := s.rdb.Unlink(ctx, k).Err(); err != nil {
			return n, fmt.Errorf("store: reindex: %w", err)
		}
	}
	return n, nil
}

// escapeGlob escapes the glob characters of s for SCAN MATCH.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
