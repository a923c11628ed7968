package store

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the store's hot-path scripts (create, start, finish) in
// pipelines, group-commit style: a call made while maxInflight pipelines
// are already on the wire waits for one of them to return and then goes
// out together with every other call that arrived meanwhile. An idle call
// is sent at once, so a lone caller pays no added latency, while under load
// N concurrent calls cost one round trip instead of N. Each script still
// runs atomically on its own; a pipeline is not a transaction.
//
// The callers send the pipelines themselves (leader and followers): a call
// that finds a free slot leads, sending every queued call with its own;
// when its pipeline returns, it wakes the callers it carried and hands the
// lead to the oldest call that arrived meanwhile, which was waiting to be
// woken anyway. No goroutine stands between a caller and Redis: a leader
// costs no hand-off at all, a follower one wake-up.
//
// A leader sends on a connection of its own (when the client is a plain
// *redis.Client): taking a connection from the pool costs a health check
// syscall per round trip, about as much as the write itself.
//
// Calls whose arguments are large (big instances or solutions) bypass the
// batcher, so that a multi-megabyte write never holds small ones back.
type batcher struct {
	rdb         redis.UniversalClient
	maxInflight int

	mu       sync.Mutex
	queue    []*scriptCall
	inflight int
	// conns keeps the leaders' connections between pipelines: at most
	// maxInflight, and closed with the client. (Closing a go-redis Conn
	// that the pool takes back makes go-redis log a warning.)
	conns []*redis.Conn
}

// batchBypass is the argument size above which a call is sent on its own.
const batchBypass = 64 << 10

type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	ctx    context.Context
	cmd    *redis.Cmd
	// done is closed when cmd is set, or when the call is made the leader
	// (lead is set first, under the batcher's mu).
	done chan struct{}
	lead bool
}

func newBatcher(rdb redis.UniversalClient, maxInflight int) *batcher {
	if maxInflight <= 0 {
		maxInflight = 1
	}
	return &batcher{rdb: rdb, maxInflight: maxInflight}
}

// run runs script like script.Run, possibly in a pipeline with other calls.
// When ctx ends before the call was sent, the script is not run at all.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if argSize(args) > batchBypass {
		return script.Run(ctx, b.rdb, keys, args...)
	}
	c := &scriptCall{script: script, keys: keys, args: args, ctx: ctx, done: make(chan struct{})}
	b.mu.Lock()
	leading := b.inflight < b.maxInflight
	if leading {
		b.inflight++
		c.lead = true
	} else {
		b.queue = append(b.queue, c)
	}
	b.mu.Unlock()
	if !leading {
		// c.lead is read again only after done is closed, which follows
		// its write.
		select {
		case <-c.done:
		case <-ctx.Done():
			// Withdraw the call if it has not been taken into a pipeline
			// (nor made the leader) yet.
			b.mu.Lock()
			if !c.lead && b.withdraw(c) {
				b.mu.Unlock()
				return ctxErrCmd(ctx)
			}
			b.mu.Unlock()
			// On the wire (its result is the truth, and it comes soon) or
			// leading.
			<-c.done
		}
		if !c.lead {
			return c.cmd
		}
	}
	b.lead(c)
	if c.cmd == nil {
		return ctxErrCmd(ctx) // left out by lead: its ctx had ended
	}
	return c.cmd
}

// withdraw removes c from the queue; the caller holds mu.
func (b *batcher) withdraw(c *scriptCall) bool {
	for i, q := range b.queue {
		if q == c {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

func ctxErrCmd(ctx context.Context) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(ctx.Err())
	return cmd
}

// lead sends one pipeline of own and every queued call whose context is
// still live, wakes their callers, then hands the lead to the oldest call
// queued meanwhile or gives the slot back. A leader's own call is never in
// the queue, so no other leader takes it.
func (b *batcher) lead(own *scriptCall) {
	b.mu.Lock()
	queued := append([]*scriptCall{own}, b.queue...)
	b.queue = nil
	var conn *redis.Conn
	if n := len(b.conns); n > 0 {
		conn = b.conns[n-1]
		b.conns = b.conns[:n-1]
	}
	b.mu.Unlock()
	batch := queued[:0] // filtered in place
	for _, c := range queued {
		if c.ctx.Err() == nil {
			batch = append(batch, c)
		} else if !c.lead {
			c.cmd = ctxErrCmd(c.ctx)
			close(c.done)
		}
	}
	if len(batch) > 0 {
		if conn == nil {
			conn = b.conn()
		}
		if !b.send(conn, batch) && conn != nil {
			// The connection broke: retire it (the calls were sent again
			// through the pool).
			_ = conn.Close()
			conn = nil
		}
		for _, c := range batch {
			if !c.lead {
				close(c.done)
			}
		}
	}
	b.mu.Lock()
	if conn != nil {
		b.conns = append(b.conns, conn)
	}
	if len(b.queue) == 0 {
		b.inflight--
		b.mu.Unlock()
		return
	}
	next := b.queue[0]
	b.queue = b.queue[1:]
	next.lead = true
	b.mu.Unlock()
	close(next.done)
}

// conn returns a new dedicated connection, or nil when the client has none
// to give (cluster, ring and failover clients): calls then go through the
// pool.
func (b *batcher) conn() *redis.Conn {
	if c, ok := b.rdb.(interface{ Conn() *redis.Conn }); ok {
		return c.Conn()
	}
	return nil
}

// send runs a batch on conn (the pool when nil), setting each call's cmd.
// It reports false when conn failed below Redis (a network error); the
// batch was then sent again through the pool, as go-redis's own retry would.
// A script that had run before the connection broke runs again: every hot
// script is guarded (create answers "exists", which CreateNew reads as
// success; start and finish check the state and attempt), so a re-send
// writes nothing twice.
func (b *batcher) send(conn *redis.Conn, batch []*scriptCall) bool {
	ok := true
	if conn != nil {
		b.exec(conn, batch)
		for _, c := range batch {
			if err := c.cmd.Err(); err != nil && !isRedisError(err) {
				ok = false
				break
			}
		}
	}
	if conn == nil || !ok {
		b.exec(b.rdb, batch)
	}
	return ok
}

// scripter is what exec needs of a client or a connection.
type scripter interface {
	redis.Scripter
	Pipeline() redis.Pipeliner
}

// exec runs the batch's scripts on r, one call alone or in a pipeline,
// setting each call's cmd.
func (b *batcher) exec(r scripter, batch []*scriptCall) {
	ctx := context.Background()
	if len(batch) == 1 {
		c := batch[0]
		c.cmd = c.script.Run(ctx, r, c.keys, c.args...)
		return
	}
	pipe := r.Pipeline()
	for _, c := range batch {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range batch {
		// A server that restarted or flushed its script cache answers
		// NOSCRIPT: run that call again with the script's source.
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			c.cmd = c.script.Run(ctx, r, c.keys, c.args...)
		}
	}
}

// isRedisError tells an error Redis answered (a script's error reply,
// NOSCRIPT, a nil reply) from a failure to talk to it.
func isRedisError(err error) bool {
	if err == redis.Nil {
		return true
	}
	var re redis.Error
	return errors.As(err, &re)
}

func argSize(args []any) int {
	n := 0
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			n += len(v)
		case string:
			n += len(v)
		default:
			n += 8
		}
	}
	return n
}
