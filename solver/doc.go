// Package solver is solvekit's contract for optimisation plugins, modelled on
// cornflow's application model: an App bundles the instance, config and
// solution JSON Schemas, several named Solvers, a default solver, instance
// checks run before the solve, and solution checks and KPIs run after it.
// App.Definition turns the App into an async job.Definition that the
// registry and the workers run like any other job.
//
// # Writing a solver
//
// A Solver receives a context (time limit and stop), and an Input holding
// the instance, the config, the chosen sub-solver, the time limit, the job
// Context (logger, progress, incumbents) and a structured Log. It returns a
// job.Result with the solution, the solver status (job.StatusOptimal,
// job.StatusFeasible, job.StatusTimeLimit, ...), objective, bound and gap:
//
//	solve := solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
//		var inst MyInstance
//		if err := in.DecodeInstance(&inst); err != nil {
//			return nil, err
//		}
//		for ctx.Err() == nil {
//			// improve; publish each better solution
//			_ = in.Incumbent(best, obj)
//		}
//		return &job.Result{Solution: best, Status: job.StatusFeasible, Objective: job.Float(obj)}, nil
//	})
//
// A solver that honours ctx and returns promptly when it is done keeps its
// work: if it returns no solution (or returns ctx.Err()) the App answers
// with the last incumbent it published, so a stop or a time limit never
// loses the best solution found.
//
// # Choosing the solver
//
// The config's "solver" field picks the solver, cornflow style: "name"
// selects Solvers["name"]; "name.sub" selects Solvers["name"] with
// Input.SubSolver = "sub" (unless "name.sub" is itself a key), so one
// solver can front several engines ("mip.cbc", "mip.glpk"). Without a
// "solver" field the App's DefaultSolver runs. An unknown name fails the
// execution (job.Fail) listing the available solvers; Service.Submit
// already refuses it as invalid. App.Definition reports an App that
// cannot run (no solvers, a nil solver, a DefaultSolver that selects
// none of them) through the definition's Err, so the registry refuses it.
//
// # Time limits
//
// The config's "time_limit" (seconds; cornflow's "timeLimit" is accepted
// too) becomes a deadline on the solver's context, on top of the job's own
// deadline, whichever comes first; Input.TimeLimit is the time left. A
// solver stopped by a deadline reports job.StatusTimeLimit (the App sets it
// when the solver leaves the status empty). When the config's time_limit
// ended the search, the App returned in time and the runtime stores the
// execution as succeeded, with status time_limit and the solution (as
// cornflow does); when the job's own deadline (the execution's timeout, a
// hard limit) cut it off, as timed_out with the solution. Set the
// execution's timeout above the config's time_limit to keep it a safety
// net.
//
// # Checks and KPIs
//
// Instance checks run before the solve: any finding that is not a warning
// fails the execution with job.Fail("instance checks failed", findings).
// Solution checks and KPIs run after it on the returned solution; their
// findings are reported in job.Result.Checks (an error finding does not fail
// the execution, as in cornflow) and the KPIs in job.Result.KPIs. App
// implements job.InstanceChecker, so instances can be checked on demand.
//
// # Structured log
//
// Log is the per-execution structured solver log, cornflow's log_json:
// status, status_code, sol_code, time, nodes, best_bound, best_solution,
// gap and a progress table. Solvers fill it while they run (Log.Progress
// for each iteration or node report); the App completes it from the result
// and stores it in job.Result.SolverLog. The solver's text output goes to
// the job's logger, beside it.
//
// Package solver/external provides solvers that run CBC and GLPK as
// external processes.
//
// docs/writing-a-solver.md is the full guide to writing a plugin; its
// listings are this package's example_writing_test.go, compiled and run.
package solver
