package record

// State is where an execution is in its lifecycle.
//
//	[scheduled →] queued → running → succeeded | failed | stopped | timed_out
//	scheduled → stopped (cancelled before it was due)
//	running → lost → queued (worker died; a new attempt is queued)
//
// Invalid is used for requests refused before anything is queued; such
// executions are never stored.
type State string

// Execution states.
const (
	StateQueued State = "queued"
	// StateScheduled holds an execution submitted with a run time
	// (SubmitRequest.RunAt or RunIn) until that time: it has no queue
	// task yet, and is queued when due.
	StateScheduled State = "scheduled"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateStopped   State = "stopped"
	StateTimedOut  State = "timed_out"
	StateLost      State = "lost"
	StateInvalid   State = "invalid"
)

// States lists every state an execution record can be stored in.
var States = []State{StateScheduled, StateQueued, StateRunning, StateSucceeded, StateFailed, StateStopped, StateTimedOut}

// Terminal reports whether s is a final state: once written it is never left
// (only an explicit relaunch starts a new attempt).
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateStopped, StateTimedOut:
		return true
	}
	return false
}

// Valid reports whether s is one of the stored states.
func (s State) Valid() bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// SolverStatus is what the solver says about the solution it returned,
// beside the execution state (as cornflow does): an execution can succeed
// with status infeasible, or time out with a feasible incumbent.
type SolverStatus string

// Solver statuses.
const (
	StatusOptimal    SolverStatus = "optimal"
	StatusFeasible   SolverStatus = "feasible"
	StatusInfeasible SolverStatus = "infeasible"
	StatusUnbounded  SolverStatus = "unbounded"
	StatusTimeLimit  SolverStatus = "time_limit"
	StatusNotSolved  SolverStatus = "not_solved"
)

// SolverStatuses lists every solver status.
var SolverStatuses = []SolverStatus{StatusOptimal, StatusFeasible, StatusInfeasible, StatusUnbounded, StatusTimeLimit, StatusNotSolved}

// Kind says how a job runs: inside the submitting call (Sync) or on a
// worker through the queue (Async).
type Kind string

// Job kinds.
const (
	KindSync  Kind = "sync"
	KindAsync Kind = "async"
)
