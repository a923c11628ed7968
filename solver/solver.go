package solver

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"time"

	"github.com/solvekit/solvekit/job"
)

// Solver solves one instance. Implementations must honour ctx: when it is
// done (stop or time limit) they return promptly with the best solution they
// have, or with no solution and let the App fall back to the last published
// incumbent.
//
// A Solver returns expected failures (bad input it cannot solve) as
// job.Fail errors; any other error is retried by the runtime.
type Solver interface {
	Solve(ctx context.Context, in *Input) (*job.Result, error)
}

// SolverFunc adapts a function to the Solver interface.
type SolverFunc func(ctx context.Context, in *Input) (*job.Result, error)

// Solve calls f(ctx, in).
func (f SolverFunc) Solve(ctx context.Context, in *Input) (*job.Result, error) { return f(ctx, in) }

// Input is what a Solver receives.
type Input struct {
	// Instance is the instance data (validated against the App's instance
	// schema by the runtime).
	Instance json.RawMessage
	// Config is the execution's config (with schema defaults filled in).
	Config json.RawMessage
	// Solver is the name of the selected entry of App.Solvers, e.g. "mip".
	Solver string
	// SubSolver is the part after the first "." of the requested solver
	// name ("cbc" for "mip.cbc"); empty when none was given.
	SubSolver string
	// TimeLimit is the time left for the solve when it starts: the earlier
	// of the config's time_limit and the job's deadline; 0 means none. The
	// solver's ctx carries the same limit as a deadline.
	TimeLimit time.Duration
	// Job is the running job's context: logger, progress and incumbents.
	// It is never nil when the App runs the solver.
	Job *job.Context
	// Log is the structured solver log (cornflow's log_json) the solver
	// fills while it runs; never nil when the App runs the solver.
	Log *Log
}

// DecodeInstance unmarshals the instance into v and validates v's struct
// tags, as job.Context.DecodeInstance does. Errors wrap a *job.Error with
// code invalid (errors.As) in a job.Failure: returned, they fail the
// execution without retries.
func (in *Input) DecodeInstance(v any) error {
	return (&job.Context{Instance: in.Instance}).DecodeInstance(v)
}

// DecodeConfig unmarshals the config into v and validates v's struct tags.
// Unknown fields (such as "solver" and "time_limit") are ignored.
func (in *Input) DecodeConfig(v any) error { return (&job.Context{Config: in.Config}).DecodeConfig(v) }

// Logger returns the job's logger, whose records are stored with the
// execution; a discarding logger when Input has no job.
func (in *Input) Logger() *slog.Logger {
	if in.Job == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Job.Log()
}

// Incumbent publishes a new best solution with its objective: the runtime
// stores it (a stopped or timed-out execution keeps it) and the structured
// log records it as best_solution (and first_solution the first time).
func (in *Input) Incumbent(solution any, objective float64) error {
	if in.Job != nil {
		if err := in.Job.Incumbent(solution, objective); err != nil {
			return err
		}
	}
	if in.Log != nil {
		in.Log.found(objective)
	}
	return nil
}

// Progress publishes a completion fraction in [0,1] and a short message.
func (in *Input) Progress(fraction float64, message string) {
	if in.Job != nil {
		in.Job.Progress(fraction, message)
	}
}

// TimeUsed returns the fraction of TimeLimit used since start, in [0,1]; 0
// without a time limit. Handy for Progress.
func (in *Input) TimeUsed(start time.Time) float64 {
	if in.TimeLimit <= 0 {
		return 0
	}
	return math.Min(1, float64(time.Since(start))/float64(in.TimeLimit))
}

// commonConfig holds the config fields the App itself reads.
type commonConfig struct {
	Solver        string   `json:"solver"`
	TimeLimit     *float64 `json:"time_limit"`
	TimeLimitCorn *float64 `json:"timeLimit"` // cornflow's spelling
}

// readConfig extracts the fields the App understands; a config that is not
// a JSON object yields the zero value (the schema is the place to reject it).
func readConfig(raw json.RawMessage) (solver string, limit time.Duration) {
	var c commonConfig
	if len(raw) == 0 || json.Unmarshal(raw, &c) != nil {
		return "", 0
	}
	secs := c.TimeLimit
	if secs == nil {
		secs = c.TimeLimitCorn
	}
	if secs != nil && *secs > 0 && !math.IsInf(*secs, 0) && *secs < math.MaxInt64/float64(time.Second) {
		limit = time.Duration(*secs * float64(time.Second))
	}
	return c.Solver, limit
}
