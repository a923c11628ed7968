package solvekit

import (
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/internal/store"
)

// SignalKind says what a Signal reports.
type SignalKind string

// Signal kinds.
const (
	// SignalCallback is one delivery attempt of a callback
	// (SubmitRequest.ResultURL) that this process made.
	SignalCallback SignalKind = "callback"
	// SignalHeartbeat is one heartbeat this process's worker wrote for
	// its running attempts, or, with Outcome HeartbeatFailed, one it
	// could not write: lag then keeps growing through a Redis outage.
	SignalHeartbeat SignalKind = "heartbeat"
	// SignalRedisError is one Redis command of this process that failed
	// (see Signal.Outcome and Config.ObserveRedis).
	SignalRedisError SignalKind = "redis_error"
)

// Callback outcomes (Signal.Outcome of a SignalCallback).
const (
	// CallbackOutcomeDelivered: the receiver answered 2xx.
	CallbackOutcomeDelivered = "delivered"
	// CallbackOutcomeRetry: the attempt failed and another is scheduled.
	CallbackOutcomeRetry = "retry"
	// CallbackOutcomeFailed: the attempt failed and the delivery is given
	// up (Config.CallbackMaxAge passed, or the address is refused).
	CallbackOutcomeFailed = "failed"
)

// HeartbeatFailed is the Outcome of a SignalHeartbeat whose write failed
// (Signal.Err says why); a written heartbeat's Outcome is "".
const HeartbeatFailed = "failed"

// Redis failure classes (Signal.Outcome of a SignalRedisError).
const (
	// RedisRefused: Redis could not be reached, or answered that it cannot
	// serve now (LOADING, READONLY, CLUSTERDOWN, OOM, ...): the command did
	// not run.
	RedisRefused = "refused"
	// RedisLost: the connection broke (EOF, reset, timeout) after the
	// command may have been sent.
	RedisLost = "lost"
	// RedisClosed: the client was closed.
	RedisClosed = "closed"
	// RedisErrorReply: another error reply (a script error, WRONGTYPE,
	// ...).
	RedisErrorReply = "error"
)

// Signal is an operational event of a Service that is not a state change
// of an execution, as SubscribeSignals delivers it: what metrics need
// besides Transitions.
type Signal struct {
	// Kind says what happened; the fields below say which apply.
	Kind SignalKind
	// ID and JobType name the execution (SignalCallback).
	ID, JobType string
	// Outcome is a callback attempt's outcome (CallbackOutcomeDelivered,
	// CallbackOutcomeRetry or CallbackOutcomeFailed), a failed Redis
	// command's class (RedisRefused, RedisLost, RedisClosed or
	// RedisErrorReply), or HeartbeatFailed.
	Outcome string
	// Command is the failed Redis command's name, lower case ("evalsha",
	// or "pipeline" for a pipeline).
	Command string
	// StatusCode is the receiver's answer to a callback attempt (0 when
	// there was none).
	StatusCode int
	// Duration is a callback attempt's duration; for SignalHeartbeat, the
	// heartbeat lag: how old the attempts' previous heartbeat was when
	// this one was written, or failed to be (the time since this
	// worker's last successful heartbeat, or since its first attempt
	// started when none ran before). It stays near
	// Config.HeartbeatInterval; when it nears Config.HeartbeatTimeout,
	// sweepers find the attempts lost.
	Duration time.Duration
	// Running is how many attempts a heartbeat covered.
	Running int
	// Err is the error of a failed callback attempt, Redis command or
	// heartbeat.
	Err error
	// At is when this process made the observation.
	At time.Time
}

// SubscribeSignals calls fn with every Signal of this process: callback
// delivery attempts, heartbeats of its worker's running attempts and
// failed Redis commands. It returns a function that ends the
// subscription. Like Subscribe it is process-local, and fn runs
// synchronously on the goroutine that made the observation (a Redis
// command's, for SignalRedisError): it must be quick and not block, nor
// call Redis through the Service. A panic in fn is recovered and logged.
// With no subscriber, reporting costs one atomic load. Package prom
// counts them.
func (s *Service) SubscribeSignals(fn func(Signal)) (unsubscribe func()) {
	return s.signals.add(fn)
}

// signalled reports whether anyone subscribed to signals.
func (s *Service) signalled() bool { return len(s.signals.load()) > 0 }

// signal hands sg to every subscriber of SubscribeSignals.
func (s *Service) signal(sg Signal) {
	subs := s.signals.load()
	if len(subs) == 0 {
		return
	}
	if sg.At.IsZero() {
		sg.At = nowUTC()
	}
	for _, fn := range subs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.cfg.Logger.Error("solvekit: a SubscribeSignals callback panicked", "kind", string(sg.Kind),
						"panic", r, "stack", string(debug.Stack()))
				}
			}()
			(*fn)(sg)
		}()
	}
}

// redisSignals is the go-redis hook that reports a Service's failed Redis
// commands as SignalRedisError (see reportable).
type redisSignals struct{ s *Service }

func (h redisSignals) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisSignals) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && h.s.signalled() && !setupCommand(cmd) {
			h.report(cmd.Name(), err)
		}
		return err
	}
}

func (h redisSignals) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil || !h.s.signalled() {
			return err
		}
		// A pipeline's error is its first failed command's, which may be
		// an answer (redis.Nil) before a failure: report the first failure
		// (a broken connection sets its error on every command). go-redis's
		// connection setup pipelines CLIENT SETINFO, which older servers
		// refuse and go-redis ignores.
		for _, c := range cmds {
			if reportable(c.Err()) && !setupCommand(c) {
				h.report("pipeline", c.Err())
				return err
			}
		}
		return err
	}
}

// setupCommand reports whether c is one of the commands go-redis sends
// when it sets a connection up, whose errors it ignores.
func setupCommand(c redis.Cmder) bool {
	switch c.Name() {
	case "hello":
		return true
	case "client":
		args := c.Args()
		if len(args) > 1 {
			sub, _ := args[1].(string)
			return strings.EqualFold(sub, "setinfo")
		}
	}
	return false
}

// reportable tells a failure from an answer or the caller's decision: an
// absent key (redis.Nil), an ended context, and NOSCRIPT (a script's first
// run, sent again with its source) are not reported.
func reportable(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !strings.HasPrefix(err.Error(), "NOSCRIPT")
}

func (h redisSignals) report(command string, err error) {
	if !reportable(err) {
		return
	}
	outcome := RedisErrorReply
	switch store.FailureClass(err) {
	case store.FailureRefused:
		outcome = RedisRefused
	case store.FailureLost:
		outcome = RedisLost
	case store.FailureClosed:
		outcome = RedisClosed
	}
	h.s.signal(Signal{Kind: SignalRedisError, Outcome: outcome, Command: strings.ToLower(command), Err: err})
}
