package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// ErrNotReplicated is wrapped by the error of a write that Redis applied
// but that fewer replicas than Options.Replicas acknowledged within
// Options.ReplicaTimeout. The error's code is job.CodeOutcomeUnknown: the
// write is on the primary, and may or may not survive a failover.
var ErrNotReplicated = errors.New("write not acknowledged by enough replicas")

// waiter sends WAIT after writes (Options.Replicas).
type waiter struct {
	replicas int
	timeout  time.Duration
}

// cmd returns a WAIT command, to be sent on the connection of the writes
// it waits for (WAIT counts the replicas that have the connection's last
// write).
func (w *waiter) cmd(ctx context.Context) *redis.IntCmd {
	return redis.NewIntCmd(ctx, "wait", w.replicas, w.timeout.Milliseconds())
}

// check returns nil when wait counted enough replicas, or the error of
// the writes it waited for: ErrNotReplicated (wrapped in a *job.Error with
// code job.CodeOutcomeUnknown) when it counted too few or Redis refused
// the WAIT, and nil with a wait that failed below Redis (the writes' own
// errors say so).
func (w *waiter) check(wait *redis.IntCmd) error {
	n, err := wait.Result()
	if err != nil && !isRedisError(err) {
		return nil
	}
	if err == nil && n >= int64(w.replicas) {
		return nil
	}
	cause := fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, n, w.replicas, w.timeout)
	if err != nil {
		cause = fmt.Errorf("%w: WAIT: %w", ErrNotReplicated, err)
	}
	return &job.Error{Code: job.CodeOutcomeUnknown, Err: cause,
		Message: "the write was applied on the Redis primary but not acknowledged by enough replicas: it may not survive a failover"}
}

// runScript runs script like script.Run on the store's client and, when
// Options.Replicas is set, a WAIT on the same connection after it (see
// waiter.check for the error of a WAIT that counted too few).
func (s *Store) runScript(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	w := s.b.wait
	if w == nil {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	run := func(source bool) (*redis.Cmd, *redis.IntCmd) {
		var cmd *redis.Cmd
		var wait *redis.IntCmd
		_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			if source {
				cmd = p.Eval(ctx, scriptSource[script], keys, args...)
			} else {
				cmd = p.EvalSha(ctx, script.Hash(), keys, args...)
			}
			wait = w.cmd(ctx)
			return p.Process(ctx, wait)
		})
		return cmd, wait
	}
	cmd, wait := run(false)
	if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		cmd, wait = run(true)
	}
	if cmd.Err() == nil {
		if err := w.check(wait); err != nil {
			cmd.SetErr(err)
		}
	}
	return cmd
}

// AwaitReplicas waits, when Options.Replicas is set, until that many
// replicas have every write the primary applied before the call: it
// writes a probe key and sends WAIT after it on the same connection
// (replication is ordered, so a replica that has the probe has all that
// came before). It returns nil at once without Options.Replicas, and
// waiter.check's error when too few replicas acknowledge.
func (s *Store) AwaitReplicas(ctx context.Context) error {
	w := s.b.wait
	if w == nil {
		return nil
	}
	var probe *redis.IntCmd
	var wait *redis.IntCmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		probe = p.Incr(ctx, s.k.p+":replication-probe")
		wait = w.cmd(ctx)
		return p.Process(ctx, wait)
	})
	if err := probe.Err(); err != nil {
		return Classify(err)
	}
	return w.check(wait)
}
