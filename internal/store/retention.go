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

// instDeleteScript removes an instance unless a set pins it (or, when
// asked, a stored execution names it); see inst_delete.lua.
var instDeleteScript = script("inst_delete")

// instDeleteKeys are inst_delete.lua's keys for instance id of owner with
// tags (as stored: joined).
func (s *Store) instDeleteKeys(id, owner, tags string) []string {
	keys := []string{s.k.inst(id), s.k.instData(id), s.k.ixInstance(id), s.k.ixInstAll()}
	if owner != "" {
		keys = append(keys, s.k.ixInstOwner(owner))
	}
	for _, t := range splitTags(tags) {
		keys = append(keys, s.k.ixInstTag(t))
	}
	return keys
}

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
		v := owners[i].Val()
		o, _ := v[0].(string)
		tags, _ := v[1].(string)
		cmds = append(cmds, instDeleteScript.Eval(ctx, pipe, s.instDeleteKeys(id, o, tags), id, "unused"))
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
