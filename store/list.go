package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Filter selects executions for List. Zero fields do not filter.
type Filter struct {
	State      job.State
	JobType    string
	Owner      string
	InstanceID string
	// CreatedAfter and CreatedBefore bound the creation time (inclusive).
	CreatedAfter, CreatedBefore time.Time
	// Metadata keeps executions whose metadata has every key=value given.
	// It is applied after the index lookup, so it costs a scan of the
	// indexed candidates.
	Metadata map[string]string
}

// Page is a window of a listing.
type Page struct {
	Limit, Offset int
}

// List returns executions newest first and the total that match. With at
// most one of State, JobType, Owner, InstanceID the lookup reads one sorted
// set: O(log n + limit). Several of them are intersected first (a temporary
// key, O(n) in the smallest set). Metadata filters scan the candidates.
func (s *Store) List(ctx context.Context, f Filter, p Page) ([]*job.Execution, int64, error) {
	var sets []string
	if f.State != "" {
		sets = append(sets, s.k.ixState(f.State))
	}
	if f.JobType != "" {
		sets = append(sets, s.k.ixType(f.JobType))
	}
	if f.Owner != "" {
		sets = append(sets, s.k.ixOwner(f.Owner))
	}
	if f.InstanceID != "" {
		sets = append(sets, s.k.ixInstance(f.InstanceID))
	}
	key := s.k.ixAll()
	switch len(sets) {
	case 0:
	case 1:
		key = sets[0]
	default:
		key = s.k.p + ":tmp:" + strconv.FormatUint(rand.Uint64(), 36)
		pipe := s.rdb.TxPipeline()
		// Weights: keep the creation score from the first set, add 0 for others.
		w := make([]float64, len(sets))
		w[0] = 1
		pipe.ZInterStore(ctx, key, &redis.ZStore{Keys: sets, Weights: w, Aggregate: "SUM"})
		pipe.Expire(ctx, key, 30*time.Second)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("store: list: %w", err)
		}
		defer s.rdb.Del(context.WithoutCancel(ctx), key)
	}
	min, max := "-inf", "+inf"
	if !f.CreatedAfter.IsZero() {
		min = ms(f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		max = ms(f.CreatedBefore)
	}
	if len(f.Metadata) == 0 {
		pipe := s.rdb.Pipeline()
		total := pipe.ZCount(ctx, key, min, max)
		ids := pipe.ZRevRangeByScore(ctx, key, &redis.ZRangeBy{Min: min, Max: max, Offset: int64(p.Offset), Count: int64(p.Limit)})
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("store: list: %w", err)
		}
		out, err := s.GetMany(ctx, ids.Val())
		return out, total.Val(), err
	}
	// Metadata filter: walk candidates in batches, newest first.
	var out []*job.Execution
	var total int64
	const batch = 500
	for off := int64(0); ; off += batch {
		ids, err := s.rdb.ZRevRangeByScore(ctx, key, &redis.ZRangeBy{Min: min, Max: max, Offset: off, Count: batch}).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("store: list: %w", err)
		}
		recs, err := s.GetMany(ctx, ids)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range recs {
			if !metaMatch(e.Metadata, f.Metadata) {
				continue
			}
			if total >= int64(p.Offset) && len(out) < p.Limit {
				out = append(out, e)
			}
			total++
		}
		if len(ids) < batch {
			break
		}
	}
	return out, total, nil
}

func metaMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}
