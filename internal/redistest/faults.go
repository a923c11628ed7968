package redistest

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Faults is a go-redis hook that makes a real Redis look like it fails
// under the store's Lua scripts (EVALSHA and EVAL); every other command
// passes untouched, so a test can still read what Redis holds. Add it
// with client.AddHook before the client is used.
//
//   - Lose: the next script runs on Redis, then its reply is lost: the
//     call fails with a connection reset, as when the connection breaks
//     after the write.
//   - Refuse: that many next scripts fail with connection refused without
//     being sent (-1: all of them), as when Redis is down.
//   - RefuseAfterLoss: the value Refuse takes when a reply is lost (Redis
//     went down right after running the script).
//   - Ran counts the scripts that ran on Redis.
//   - Only, when set before the client is used, picks the scripts the
//     faults apply to (and Ran counts); the others pass untouched, so
//     that a Service's background loops, whose scripts may run at any
//     moment on a loaded machine, do not take a fault meant for a call.
type Faults struct {
	Lose            atomic.Bool
	Refuse          atomic.Int32
	RefuseAfterLoss atomic.Int32
	Ran             atomic.Int32
	Only            func(redis.Cmder) bool
}

// WritesInput is a Faults.Only that picks the scripts writing an
// execution's input key (…:in): the creates of Submit and SubmitMany.
func WritesInput(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) < 3 {
		return false
	}
	n, _ := args[2].(int)
	for i := 3; i < 3+n && i < len(args); i++ {
		if k, ok := args[i].(string); ok && strings.HasSuffix(k, ":in") {
			return true
		}
	}
	return false
}

// isScript reports whether cmd is a script the faults apply to.
func (f *Faults) isScript(cmd redis.Cmder) bool {
	n := strings.ToLower(cmd.Name())
	return (n == "evalsha" || n == "eval") && (f.Only == nil || f.Only(cmd))
}

// before applies the faults due before a script is sent; it reports
// whether the script was answered (refused) instead.
func (f *Faults) before(cmd redis.Cmder) bool {
	if n := f.Refuse.Load(); n != 0 {
		if n > 0 {
			f.Refuse.Add(-1)
		}
		cmd.SetErr(&net.OpError{Op: "dial", Net: "unix", Err: syscall.ECONNREFUSED})
		return true
	}
	return false
}

// after applies the faults due after a script ran on Redis with reply
// error err: it returns the error that replaces the reply, or nil.
func (f *Faults) after(cmd redis.Cmder, err error) error {
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil // did not run; the store sends it again with its source
	}
	f.Ran.Add(1)
	if f.Lose.CompareAndSwap(true, false) {
		f.Refuse.Store(f.RefuseAfterLoss.Load())
		lost := &net.OpError{Op: "read", Net: "unix", Err: syscall.ECONNRESET}
		cmd.SetErr(lost)
		return lost
	}
	return nil
}

// DialHook passes dials through.
func (f *Faults) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook disturbs single scripts.
func (f *Faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !f.isScript(cmd) {
			return next(ctx, cmd)
		}
		if f.before(cmd) {
			return cmd.Err()
		}
		// go-redis sets the returned error on cmd after the hooks: pass
		// it on.
		err := next(ctx, cmd)
		if lost := f.after(cmd, err); lost != nil {
			return lost
		}
		return err
	}
}

// ProcessPipelineHook disturbs pipelines that carry scripts.
func (f *Faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if f.isScript(c) && f.before(c) {
				// Refused: nothing of the pipeline is sent.
				for _, o := range cmds {
					o.SetErr(c.Err())
				}
				return c.Err()
			}
		}
		err := next(ctx, cmds)
		for _, c := range cmds {
			if f.isScript(c) {
				if lost := f.after(c, c.Err()); lost != nil && err == nil {
					err = lost
				}
			}
		}
		return err
	}
}
