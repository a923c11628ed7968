package queue

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/internal/store"
)

// Completion lets a handler complete its own task in the script that
// writes the attempt's end (store.Outcome.Task), instead of leaving it to
// asynq's Done after the handler returns: one script call and one round
// trip fewer per job. The Server hands one to each handler through its
// context (CompletionFrom).
//
// asynq still calls Done for the task once the handler has returned. The
// Server's Redis client answers that call itself, without sending it, for
// a task marked completed here; asynq's Done script would fail with "NOT
// FOUND" (and asynq would retry it) for a task that is gone.
type Completion struct {
	srv   *Server
	queue string
	id    string
}

type completionKey struct{}

// CompletionFrom returns the Completion of the task a handler is running,
// or nil outside a Server's handler.
func CompletionFrom(ctx context.Context) *Completion {
	c, _ := ctx.Value(completionKey{}).(*Completion)
	return c
}

// Task returns the task to complete, in asynq's layout (v0.26, the keys
// and counters its done script uses), for store.Outcome.Task.
func (c *Completion) Task(now time.Time) *store.TaskDone {
	prefix := keyPrefix(c.queue)
	return &store.TaskDone{
		ID: c.id, ActiveKey: prefix + "active", LeaseKey: prefix + "lease", Key: taskKey(c.queue, c.id),
		ProcessedKey:      prefix + "processed:" + now.UTC().Format("2006-01-02"),
		ProcessedTotalKey: prefix + "processed",
		ExpireAt:          now.Add(statsTTL).Unix(),
	}
}

// statsTTL is how long asynq keeps a day's processed counter.
const statsTTL = 90 * 24 * time.Hour

// Completed records that the task was completed (the store set
// TaskDone.Completed), so that asynq's Done for it is answered without
// Redis. Call it just before the handler returns nil.
func (c *Completion) Completed() { c.srv.done.mark(c.id) }

// completed holds the ids of tasks completed by their handlers until
// asynq's Done for them comes. asynq skips Done when a task's lease has
// expired meanwhile (its recoverer then finds nothing to recover), so an
// id can stay unclaimed: ids older than a minute are dropped now and then.
type completed struct {
	m     sync.Map // task id → time.Time marked
	marks atomic.Int64
}

func (d *completed) mark(id string) {
	now := time.Now()
	d.m.Store(id, now)
	if d.marks.Add(1)%1024 == 0 {
		d.m.Range(func(k, v any) bool {
			if now.Sub(v.(time.Time)) > time.Minute {
				d.m.Delete(k)
			}
			return true
		})
	}
}

// claim reports whether id was marked, forgetting it.
func (d *completed) claim(id string) bool {
	_, ok := d.m.LoadAndDelete(id)
	return ok
}

// doneAnswering is the Redis client a Server gives asynq: the shared
// client, except that asynq's Done for a task its handler completed is
// answered here. asynq runs Done as a script with five keys, the first
// the queue's active list, and the task id as first argument; only ids
// that a Completion marked are answered, everything else goes to Redis.
type doneAnswering struct {
	redis.UniversalClient
	done *completed
}

func (c doneAnswering) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	if len(keys) == 5 && len(args) == 3 && strings.HasSuffix(keys[0], "}:active") {
		if id, ok := args[0].(string); ok && c.done.claim(id) {
			cmd := redis.NewCmd(ctx)
			cmd.SetVal("OK")
			return cmd
		}
	}
	return c.UniversalClient.EvalSha(ctx, sha1, keys, args...)
}

// withCompletion returns ctx carrying the Completion of the task asynq is
// running in it.
func (s *Server) withCompletion(ctx context.Context) context.Context {
	if s.done == nil {
		return ctx
	}
	id, ok1 := asynq.GetTaskID(ctx)
	q, ok2 := asynq.GetQueueName(ctx)
	if !ok1 || !ok2 {
		return ctx
	}
	return context.WithValue(ctx, completionKey{}, &Completion{srv: s, queue: q, id: id})
}
