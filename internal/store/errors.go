package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// A Redis call fails in one of a few ways, and what the caller may do next
// depends on which:
//
//   - refused: Redis did not run the command. No connection could be made
//     (connection refused, no socket, pool exhausted), or the server
//     answered that it cannot serve now: LOADING (restarting and reading
//     its data), BUSY (a script runs), MASTERDOWN, CLUSTERDOWN, TRYAGAIN,
//     READONLY (a replica after a failover), MISCONF, OOM, NOREPLICAS, too
//     many clients. Sending the command again is safe for any command.
//   - lost: the connection broke (EOF, reset, timeout) after the command
//     may have been written. A read can be sent again; a write may or may
//     not have been applied.
//   - closed: the client was closed. Nothing was sent; nothing will be.
//
// Everything else (Redis's own answers, script errors, redis.Nil, an ended
// context) is an answer or the caller's decision, not an outage.
type failure uint8

const (
	notOutage failure = iota
	refused
	lost
	closed
)

// refusals are the error replies with which Redis declines a command
// without running it, while it cannot serve (go-redis retries the same).
var refusals = []string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY",
	"MISCONF", "OOM", "NOREPLICAS", "max number of clients reached"}

// Failure classes of FailureClass.
const (
	// FailureNone: no error, or an answer (redis.Nil, an error reply that
	// is not a refusal) or an ended context.
	FailureNone = notOutage
	// FailureRefused: the command did not run (see above).
	FailureRefused = refused
	// FailureLost: the connection broke after the command may have been
	// sent.
	FailureLost = lost
	// FailureClosed: the client was closed.
	FailureClosed = closed
)

// FailureClass tells how a Redis call failed, as the store's retries do.
func FailureClass(err error) failure { return classify(err) }

func classify(err error) failure {
	if err == nil || errors.Is(err, redis.Nil) {
		return notOutage
	}
	if errors.Is(err, redis.ErrClosed) {
		return closed
	}
	var re redis.Error
	if errors.As(err, &re) {
		for _, p := range refusals {
			if redis.HasErrorPrefix(err, p) {
				return refused
			}
		}
		return notOutage
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return refused // checked before the context: a dial timeout sent nothing
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return refused
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return notOutage
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) {
		return lost
	}
	return notOutage
}

// writeFailed reports whether err is the failure of writing a command to
// its connection (the command then did not reach Redis whole).
func writeFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "write"
}

// unavailableMsg is what users see of an outage; the cause is in Err.
const unavailableMsg = "Redis is unavailable; try again shortly"

// Classify returns err as solvekit's callers expect an outage: a
// *job.Error with code job.CodeUnavailable (HTTP 503) wrapping err when err
// says that Redis could not be reached, broke the connection, was closed,
// or declined to serve (LOADING and the like; see the package doc). Any
// other error, and an error that already is a *job.Error, comes back
// unchanged.
//
// An unavailable error from the store's own creates, starts and finishes
// means that nothing was written (writes whose fate is unknown say so with
// job.CodeOutcomeUnknown). Other writes are sent by go-redis, which sends
// a command again after a lost reply: after an outage error they may have
// been applied, and each is safe to repeat (a cancel, relaunch or delete
// that took effect answers conflict or not found when repeated).
func Classify(err error) error {
	var je *job.Error
	if err == nil || errors.As(err, &je) || classify(err) == notOutage {
		return err
	}
	return &job.Error{Code: job.CodeUnavailable, Message: unavailableMsg, Err: err}
}

// outcomeUnknown is the error of a write whose reply was lost: it may or
// may not have been applied.
func outcomeUnknown(err error) error {
	return &job.Error{Code: job.CodeOutcomeUnknown,
		Message: "the connection to Redis broke before the write's reply came: it may or may not have been applied",
		Err:     err}
}

// DefaultRetryWindow is Options.RetryWindow's default.
const DefaultRetryWindow = time.Second

// retryBackoff is the pause before the n-th (1-based) new send of a call
// that Redis refused: 10ms doubling, at most 200ms.
func retryBackoff(n int) time.Duration {
	return min(10*time.Millisecond<<min(n-1, 5), 200*time.Millisecond)
}

// sleepCtx sleeps for d or until ctx ends, reporting whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// read runs op, a read, again while it fails for an outage (refused or a
// lost connection: reads may be sent again) and the store's retry window
// lasts; an outage that outlasts the window comes back as Classify types
// it.
func (s *Store) read(ctx context.Context, op func() error) error {
	deadline := time.Now().Add(s.retryWindow)
	for n := 1; ; n++ {
		err := op()
		if f := classify(err); f != refused && f != lost {
			return Classify(err)
		}
		if time.Now().Add(retryBackoff(n)).After(deadline) || !sleepCtx(ctx, retryBackoff(n)) {
			return Classify(err)
		}
	}
}
