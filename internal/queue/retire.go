package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// retireScript ends an active task whose worker is gone, as asynq's done
// script ends a task whose handler returned (asynq v0.26 layout): removed
// from the queue's active list and lease set, its hash deleted, and the
// queue's processed counters incremented (the day's one expiring with
// asynq's stats, the total wrapping to 1 past the largest integer). A task
// that is not active is left alone.
// KEYS[1] active list, KEYS[2] lease zset, KEYS[3] task hash, KEYS[4]
// processed counter of the day, KEYS[5] processed total. ARGV[1] task id,
// ARGV[2] the day counter's expiry (unix s). Returns 1 when retired.
var retireScript = redis.NewScript(`
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
if redis.call('INCR', KEYS[4]) == 1 then redis.call('EXPIREAT', KEYS[4], ARGV[2]) end
local total = redis.pcall('INCR', KEYS[5])
if type(total) == 'table' and total.err then redis.call('SET', KEYS[5], 1) end
return 1
`)

// Retire ends the active task of an attempt whose worker died (the
// sweeper found its heartbeat stale and requeued or ended the execution),
// as asynq would have when its handler returned. Left alone, the task
// would stay active until its lease expired (up to half a minute after the
// worker's last lease extension), then asynq would count it failed and
// deliver it again for nothing. It reports whether a task was retired; a
// task that is not active (already completed, or never started) is left
// alone. All keys are in the queue's hash slot, so this works on Redis
// Cluster too. A Client that may not use asynq's layout (NewClient's
// layout false) retires nothing: asynq's own recovery then ends the task
// (see Path.Layout).
func (c *Client) Retire(ctx context.Context, queue string, a Attempt) (bool, error) {
	if !c.layout {
		return false, nil
	}
	queue = queueName(queue)
	id := a.TaskID()
	prefix := keyPrefix(queue)
	now := time.Now().UTC()
	keys := []string{prefix + "active", prefix + "lease", prefix + "t:" + id,
		prefix + "processed:" + now.Format("2006-01-02"), prefix + "processed"}
	n, err := retireScript.Run(ctx, c.rdb, keys, id, strconv.FormatInt(now.Add(statsTTL).Unix(), 10)).Int()
	if err != nil {
		return false, fmt.Errorf("queue: retire %s: %w", id, err)
	}
	return n == 1, nil
}
