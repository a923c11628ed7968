// Package external runs MIP solvers as external processes: COIN-OR CBC
// ("cbc", Debian package coinor-cbc) and GLPK ("glpsol", Debian package
// glpk-utils), as solver.Solver plugins and as a ready App (MIPApp).
//
// The instance is a Model: {"format": "mps"|"lp", "model": "<file text>"}.
// The solution is a Solution: {"status", "objective", "variables"}, with
// the non-zero variable values by name.
//
// Each solve runs in its own workspace directory (removed afterwards unless
// WithKeepWorkspace), in its own process group, with the time left passed
// to the solver (CBC "seconds", glpsol --tmlim in whole seconds, rounded
// down) minus a little headroom so it stops on its own and writes its
// solution before the deadline; glpsol with less than a second left is
// stopped at the deadline instead. An MPS model glpsol cannot read as free
// MPS is read again as fixed MPS. The
// process's stdout and stderr go to the job's logger line by line as they
// come (slog Info records with attributes stream=stdout|stderr and
// solver=cbc|glpk); CBC is run under "stdbuf -oL" when available because
// it block-buffers a pipe. Incumbent objectives are read from the log and
// published as incumbents; node reports fill the structured solver.Log.
//
// Stopping: when the context is cancelled (or its deadline passes and the
// solver, told the limit, has not stopped within a second; a glpsol that
// could not be told it, at once) the process group gets SIGINT,
// then SIGKILL after the grace period (WithGracePeriod, default 5 s). CBC
// handles SIGINT by ending the search and writing its best solution, which
// is returned with status feasible (stop) or time_limit (deadline). glpsol
// dies on SIGINT without writing; the best objective from its log is kept
// as a Solution without variables.
//
// Solver statuses map to job.SolverStatus: optimal, infeasible, unbounded,
// time_limit (stopped by the time limit with or without a solution),
// feasible (stopped otherwise with a solution) and not_solved.
//
// A missing binary is an error naming the Debian package to install.
package external
