package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstancesCreatedBefore returns up to limit ids of stored instances
// created before t, oldest first, after skipping offset of them (the
// retention sweep pages through them, past the ones still in use).
func (s *Store) InstancesCreatedBefore(ctx context.Context, t time.Time, offset, limit int64) ([]string, error) {
	return s.rdb.ZRangeByScore(ctx, s.k.ixInstAll(), &redis.ZRangeBy{
		Min: "-inf", Max: "(" + ms(t), Offset: offset, Count: limit}).Result()
}

// deleteUnusedInstance removes an instance, its data and its index
// entries unless a stored execution names it: the executions' index by
// that instance exists while one does (delete.lua removes the member, and
// Redis the emptied key). It answers 1 when it deleted.
// KEYS[1] instance, KEYS[2] its data, KEYS[3] executions by instance,
// KEYS[4..] instance indexes. ARGV[1] id.
var deleteUnusedInstance = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'pinned') == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1`)

// DeleteUnusedInstances deletes, of the instances ids, those that no
// stored execution names, each in one atomic check-and-delete, and
// returns how many it deleted. It reads them all in one round trip, and
// runs the delete script, in a second one, only for those that looked
// unused.
func (s *Store) DeleteUnusedInstances(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	pipe := s.rdb.Pipeline()
	owners := make([]*redis.SliceCmd, len(ids))
	used := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		owners[i] = pipe.HMGet(ctx, s.k.inst(id), "owner", "tags")
		used[i] = pipe.Exists(ctx, s.k.ixInstance(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	pipe = s.rdb.Pipeline()
	var cmds []*redis.Cmd
	for i, id := range ids {
		if used[i].Val() > 0 {
			continue
		}
		keys := []string{s.k.inst(id), s.k.instData(id), s.k.ixInstance(id), s.k.ixInstAll()}
		v := owners[i].Val()
		if o, _ := v[0].(string); o != "" {
			keys = append(keys, s.k.ixInstOwner(o))
		}
		tags, _ := v[1].(string)
		for _, t := range splitTags(tags) {
			keys = append(keys, s.k.ixInstTag(t))
		}
		cmds = append(cmds, deleteUnusedInstance.Eval(ctx, pipe, keys, id))
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		if v, _ := c.Int(); v == 1 {
			n++
		}
	}
	return n, nil
}
