package job

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Reporter receives what a running job publishes. solvekit's runtime
// implements it to store progress and incumbents with the execution and to
// emit them as events; tests may leave it nil.
type Reporter interface {
	// Progress records a completion fraction in [0,1] and a message.
	Progress(fraction float64, message string)
	// Incumbent validates and stores the best solution found so far.
	Incumbent(solution json.RawMessage, objective *float64) error
}

// Context is what a running job sees besides its context.Context: who it
// is, its input, a logger whose records are stored with the execution, and
// the means to report progress and incumbents.
type Context struct {
	// ExecutionID identifies the execution.
	ExecutionID string
	// Attempt counts from 1; it grows on retries, relaunches and when a
	// dead worker's execution is requeued.
	Attempt int
	// JobType is the registered job name.
	JobType string
	// Solver is the solver chosen by the config's "solver" field (or the
	// job's default solver); empty for jobs without solvers.
	Solver string
	// Instance is the validated instance data.
	Instance json.RawMessage
	// Config is the validated config with the schema's defaults filled in.
	Config json.RawMessage
	// Metadata is the submitter's free-form labels.
	Metadata map[string]string
	// Logger writes records that are stored with the execution and readable
	// while it runs. Never nil when solvekit runs the job.
	Logger *slog.Logger
	// Reporter stores progress and incumbents; nil records them in memory only.
	Reporter Reporter
	// TraceParent is the W3C traceparent of the span that submitted the
	// execution (empty when none was recorded): tracing middleware makes
	// the attempt's span its child, so one trace runs from the request to
	// the attempt even when another process runs it.
	TraceParent string
	// QueuedAt is when the execution began waiting in its queue: its
	// submit, or when it was due if it was scheduled. Zero for a sync job,
	// which does not queue. For the first attempt, the gap to the start is
	// the queue wait.
	QueuedAt time.Time

	mu        sync.Mutex
	incumbent json.RawMessage
	objective *float64
}

// Progress publishes how far the job is, as a fraction in [0,1] (clamped)
// and a short message. It never fails the job: a storage error is logged.
func (c *Context) Progress(fraction float64, message string) {
	if fraction < 0 {
		fraction = 0
	} else if fraction > 1 {
		fraction = 1
	}
	if c.Reporter != nil {
		c.Reporter.Progress(fraction, message)
	}
}

// Incumbent publishes the best solution found so far with its objective
// value. It is checked against the solution schema and stored at once, so it
// survives a stop or a time limit: a job that is stopped without returning a
// solution ends with its last incumbent as the solution.
func (c *Context) Incumbent(solution any, objective float64) error {
	raw, err := json.Marshal(solution)
	if err != nil {
		return fmt.Errorf("incumbent does not encode: %w", err)
	}
	obj := objective
	if c.Reporter != nil {
		if err := c.Reporter.Incumbent(raw, &obj); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.incumbent, c.objective = raw, &obj
	c.mu.Unlock()
	return nil
}

// LastIncumbent returns the last accepted incumbent and its objective (nil
// if none was published).
func (c *Context) LastIncumbent() (json.RawMessage, *float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.incumbent, c.objective
}

// DecodeInstance decodes the instance into v and checks v's validator/v10
// struct tags. A value of the wrong type or a violation comes back as a
// *Failure wrapping an *Error (code CodeInvalid) with JSON pointers (reach
// it with errors.As): returned from the job, it fails the execution at
// once, with the violations recorded, and is not retried.
func (c *Context) DecodeInstance(v any) error { return decodeStrict(c.Instance, v, "instance") }

// DecodeConfig decodes the config (defaults filled) into v and checks v's
// validator/v10 struct tags; its errors are DecodeInstance's.
func (c *Context) DecodeConfig(v any) error { return decodeStrict(c.Config, v, "config") }

// Log returns the job's logger, or a discarding logger if none is set, so
// job code can always log.
func (c *Context) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

type ctxKey struct{}

// WithContext returns a copy of ctx that carries jc; FromContext reads it.
// solvekit sets it on the context passed to jobs, so helpers deep in a
// solver can reach the job Context.
func WithContext(ctx context.Context, jc *Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, jc)
}

// FromContext returns the job Context carried by ctx, or nil.
func FromContext(ctx context.Context) *Context {
	jc, _ := ctx.Value(ctxKey{}).(*Context)
	return jc
}
