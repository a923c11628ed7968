package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends the store's hot-path scripts (create, start, finish) in
// pipelines, group-commit style: a call made while maxInflight pipelines
// are already on the wire waits for one of them to return and then goes
// out together with every other call that arrived meanwhile. An idle call
// is sent at once, so a lone caller pays no added latency, while under load
// N concurrent calls cost one round trip instead of N, which is where most
// of the client's and Redis's CPU per job goes. Each script still runs
// atomically on its own; a pipeline is not a transaction.
//
// Each flusher sends on a connection of its own (when the client is a
// plain *redis.Client): taking a connection from the pool costs a health
// check syscall per round trip, about as much as the write itself.
//
// Calls whose arguments are large (big instances or solutions) bypass the
// batcher, so that a multi-megabyte write never holds small ones back.
type batcher struct {
	rdb         redis.UniversalClient
	maxInflight int

	mu       sync.Mutex
	queue    []*scriptCall
	inflight int
	// conns keeps the connections of flushers that exited for the next
	// ones: at most maxInflight, and closed with the client. (Closing a
	// go-redis Conn that the pool takes back makes go-redis log a warning.)
	conns []*redis.Conn
	// kick wakes an idle flusher. Flushers stay alive for flusherIdle
	// after their last pipeline: a goroutine per pipeline would pay for
	// growing a fresh stack through go-redis every time.
	kick chan struct{}
}

// flusherIdle is how long a flusher waits for more calls before it exits.
const flusherIdle = time.Second

// batchBypass is the argument size above which a call is sent on its own.
const batchBypass = 64 << 10

type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	done   chan struct{}
}

func newBatcher(rdb redis.UniversalClient, maxInflight int) *batcher {
	if maxInflight <= 0 {
		maxInflight = 1
	}
	return &batcher{rdb: rdb, maxInflight: maxInflight, kick: make(chan struct{}, 1)}
}

// run runs script like script.Run, possibly in a pipeline with other calls.
// When ctx ends before the call was sent, the script is not run at all.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if argSize(args) > batchBypass {
		return script.Run(ctx, b.rdb, keys, args...)
	}
	c := &scriptCall{script: script, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	start := b.inflight < b.maxInflight
	if start {
		b.inflight++
	}
	b.mu.Unlock()
	if start {
		go b.flush()
	} else {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	select {
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
	}
	// Withdraw the call if it has not been taken into a pipeline yet.
	b.mu.Lock()
	for i, q := range b.queue {
		if q == c {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			b.mu.Unlock()
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(ctx.Err())
			return cmd
		}
	}
	b.mu.Unlock()
	// Already on the wire: its result is the truth, and it comes soon.
	<-c.done
	return c.cmd
}

// flush sends pipelines while calls arrive, and exits after flusherIdle
// without any.
func (b *batcher) flush() {
	idle := time.NewTimer(flusherIdle)
	defer idle.Stop()
	var own *redis.Conn
	defer func() {
		if own != nil {
			b.mu.Lock()
			b.conns = append(b.conns, own)
			b.mu.Unlock()
		}
	}()
	for {
		b.mu.Lock()
		batch := b.queue
		b.queue = nil
		b.mu.Unlock()
		if len(batch) > 0 {
			if own == nil {
				own = b.conn()
			}
			if !b.send(own, batch) {
				// The connection broke: retire it (the calls were sent
				// again through the pool).
				_ = own.Close()
				own = nil
			}
			continue
		}
		idle.Reset(flusherIdle)
		select {
		case <-b.kick:
			continue
		case <-idle.C:
		}
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}

// conn returns a dedicated connection, or nil when the client has none to
// give (cluster, ring and failover clients): calls then go through the pool.
func (b *batcher) conn() *redis.Conn {
	b.mu.Lock()
	if n := len(b.conns); n > 0 {
		c := b.conns[n-1]
		b.conns = b.conns[:n-1]
		b.mu.Unlock()
		return c
	}
	b.mu.Unlock()
	if c, ok := b.rdb.(interface{ Conn() *redis.Conn }); ok {
		return c.Conn()
	}
	return nil
}

// send runs a batch on conn (the pool when nil) and wakes its callers. It
// reports false when conn failed below Redis (a network error); the batch
// was then sent again through the pool, as go-redis's own retry would.
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
	for _, c := range batch {
		close(c.done)
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
