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
//
// Outages. go-redis is told not to send these calls again by itself
// (noRetry): it would re-send a script whose reply was lost and then
// report the last send's error, say "connection refused", for a write the
// first send made. The batcher decides instead, per call (settle): a call
// Redis refused (it did not run, see classify) is sent again while the
// store's retry window lasts; a call whose reply was lost may have run, and
// is sent again only when it is resendable (scriptCall.resend). Once a send
// may have run, the call ends in its answer or in job.CodeOutcomeUnknown,
// never in a plain error, so that an error still means "not written".
type batcher struct {
	rdb         redis.UniversalClient
	maxInflight int
	// window is how long a refused call keeps being sent again.
	window time.Duration

	mu       sync.Mutex
	queue    []*scriptCall
	inflight int
	// wait, when set (Options.Replicas), adds a WAIT at the end of each
	// pipeline: it covers every call in it, since they share the
	// connection. A call sent alone then goes in a pipeline with its WAIT.
	wait *waiter

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
	// resend says that the call may be sent again after a send whose reply
	// was lost, because running it twice writes nothing twice and its
	// second answer still tells the truth: CreateNew ("exists" can only be
	// its own first send), Finish (guarded by state and attempt; Finish
	// recognises its own earlier write). Create with a caller's id would
	// answer "conflict" and Start "not startable" to their own first send:
	// they are not resent, and end in job.CodeOutcomeUnknown instead.
	resend bool
	// alone: the last send carried this call only (not in a pipeline).
	alone bool
	// resent: settle sent the call again after a lost reply.
	resent bool
	cmd    *redis.Cmd
	// done is closed when cmd is set, or when the call is made the leader
	// (lead is set first, under the batcher's mu).
	done chan struct{}
	lead bool
}

func newBatcher(rdb redis.UniversalClient, maxInflight int, window time.Duration) *batcher {
	if maxInflight <= 0 {
		maxInflight = 1
	}
	return &batcher{rdb: rdb, maxInflight: maxInflight, window: window}
}

// run runs script like script.Run, possibly in a pipeline with other calls,
// and settles its outcome (see settle; resend as scriptCall.resend).
// When ctx ends before the call was sent, the script is not run at all.
func (b *batcher) run(ctx context.Context, resend bool, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	cmd, _ := b.runCall(ctx, resend, script, keys, args...)
	return cmd
}

// runCall is run that also reports whether the call was sent again after
// a lost reply (its answer may then be to its own earlier send).
func (b *batcher) runCall(ctx context.Context, resend bool, script *redis.Script, keys []string, args ...any) (*redis.Cmd, bool) {
	c := &scriptCall{script: script, keys: keys, args: args, ctx: ctx, resend: resend, done: make(chan struct{})}
	if argSize(args) > batchBypass {
		b.exec(b.rdb, []*scriptCall{c})
		return b.settle(c), c.resent
	}
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
				return ctxErrCmd(ctx), false
			}
			b.mu.Unlock()
			// On the wire (its result is the truth, and it comes soon) or
			// leading.
			<-c.done
		}
		if !c.lead {
			return b.settle(c), c.resent
		}
	}
	b.lead(c)
	if c.cmd == nil {
		return ctxErrCmd(ctx), false // left out by lead: its ctx had ended
	}
	return b.settle(c), c.resent
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

func ctxErrCmd(ctx context.Context) *redis.Cmd { return errCmd(ctx, ctx.Err()) }

func errCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
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
		if conn == nil {
			b.exec(b.rdb, batch)
		} else {
			b.exec(conn, batch)
			if broken(batch) {
				// Retire the connection; each caller settles its call
				// (sends it again through the pool, or not: see settle).
				_ = conn.Close()
				conn = nil
			}
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

// broken reports whether a call of the batch failed below Redis (no
// answer from it): the connection is then not to be used again.
func broken(batch []*scriptCall) bool {
	for _, c := range batch {
		if err := c.cmd.Err(); err != nil && !isRedisError(err) {
			return true
		}
	}
	return false
}

// settle turns the first outcome of a call into its final one. An answer
// from Redis (a script's error reply included) is final. A call that
// Redis refused did not run: it is sent again, alone through the pool,
// after a pause (10ms doubling to 200ms) while the retry window lasts,
// then fails with job.CodeUnavailable. A call whose reply was lost may have
// run: a resendable call is sent again at once (then as a refused one),
// any other fails with job.CodeOutcomeUnknown; and once a send may have
// run, an outage that outlasts the window is job.CodeOutcomeUnknown too.
// An ended ctx stops the retries (with the same rule).
func (b *batcher) settle(c *scriptCall) *redis.Cmd {
	var deadline time.Time
	mayHaveRun := false
	for n := 1; ; n++ {
		err := c.cmd.Err()
		f := classify(err)
		if f == notOutage {
			return c.cmd
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(b.window)
		}
		if f == lost && c.alone && writeFailed(err) {
			// A command sent alone whose write failed never reached
			// Redis whole, and Redis runs only whole commands. (In a
			// pipeline, the commands written before the failing write
			// may have run.)
			f = refused
		}
		pause := retryBackoff(n)
		if f == lost {
			mayHaveRun = true
			if n == 1 {
				pause = 0 // a broken connection: the pool has others
			}
		}
		again := f == refused || (f == lost && c.resend)
		again = again && c.ctx.Err() == nil && (pause == 0 || !time.Now().Add(pause).After(deadline))
		if again && pause > 0 {
			again = sleepCtx(c.ctx, pause)
		}
		if !again {
			if mayHaveRun {
				return errCmd(c.ctx, outcomeUnknown(err))
			}
			return errCmd(c.ctx, Classify(err))
		}
		c.resent = c.resent || mayHaveRun
		b.exec(b.rdb, []*scriptCall{c})
	}
}

// scripter is what exec needs of a client or a connection.
type scripter interface {
	Process(ctx context.Context, cmd redis.Cmder) error
	Pipeline() redis.Pipeliner
}

// noRetry is a command go-redis must send once: whether to send it again
// is settle's decision.
type noRetry struct{ *redis.Cmd }

// NoRetry tells go-redis not to send the command again by itself.
func (noRetry) NoRetry() bool { return true }

// scriptCmd builds the EVALSHA (or, with source, EVAL) command of a call,
// as go-redis's Script would.
func scriptCmd(ctx context.Context, c *scriptCall, source bool) *redis.Cmd {
	argv := make([]any, 0, 3+len(c.keys)+len(c.args))
	if source {
		argv = append(argv, "eval", scriptSource[c.script])
	} else {
		argv = append(argv, "evalsha", c.script.Hash())
	}
	argv = append(argv, len(c.keys))
	for _, k := range c.keys {
		argv = append(argv, k)
	}
	argv = append(argv, c.args...)
	cmd := redis.NewCmd(ctx, argv...)
	cmd.SetFirstKeyPos(3)
	return cmd
}

// exec runs the batch's scripts on r, one call alone or in a pipeline,
// each sent once, setting each call's cmd.
func (b *batcher) exec(r scripter, batch []*scriptCall) {
	ctx := context.Background()
	for _, c := range batch {
		// With a WAIT, a call is never sent alone: its pipeline's write
		// may fail after the call went out whole.
		c.alone = len(batch) == 1 && b.wait == nil
	}
	var wait *redis.IntCmd
	if len(batch) == 1 && b.wait == nil {
		c := batch[0]
		c.cmd = scriptCmd(ctx, c, false)
		_ = r.Process(ctx, noRetry{c.cmd})
	} else {
		pipe := r.Pipeline()
		for _, c := range batch {
			c.cmd = scriptCmd(ctx, c, false)
			_ = pipe.Process(ctx, noRetry{c.cmd})
		}
		if b.wait != nil {
			wait = b.wait.cmd(ctx)
			_ = pipe.Process(ctx, wait)
		}
		_, _ = pipe.Exec(ctx)
	}
	b.checkWait(wait, batch)
	for _, c := range batch {
		// A server that restarted or flushed its script cache answers
		// NOSCRIPT: run that call again with the script's source.
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			c.cmd = scriptCmd(ctx, c, true)
			c.alone = b.wait == nil
			if b.wait == nil {
				_ = r.Process(ctx, noRetry{c.cmd})
				continue
			}
			pipe := r.Pipeline()
			_ = pipe.Process(ctx, noRetry{c.cmd})
			wait := b.wait.cmd(ctx)
			_ = pipe.Process(ctx, wait)
			_, _ = pipe.Exec(ctx)
			b.checkWait(wait, []*scriptCall{c})
		}
	}
}

// checkWait fails the calls of batch that Redis answered without error
// when wait (nil: none was sent) counted too few replicas (waiter.check).
// A call's error reply is left as is: such scripts write nothing.
func (b *batcher) checkWait(wait *redis.IntCmd, batch []*scriptCall) {
	if wait == nil {
		return
	}
	err := b.wait.check(wait)
	if err == nil {
		return
	}
	for _, c := range batch {
		if c.cmd.Err() == nil {
			c.cmd = errCmd(c.ctx, err)
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
