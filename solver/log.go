package solver

import (
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/solvekit/solvekit/job"
)

// Status codes of the structured log's status_code, as cornflow defines
// them (cornflow_client.constants STATUS_*).
const (
	StatusCodeNotSolved   = 0
	StatusCodeOptimal     = 1
	StatusCodeFeasible    = 2
	StatusCodeMemoryLimit = 3
	StatusCodeNodeLimit   = 4
	StatusCodeTimeLimit   = 5
	StatusCodeInfeasible  = -1
	StatusCodeUnbounded   = -2
	StatusCodeUndefined   = -3
)

// Solution codes of the structured log's sol_code, as cornflow defines them
// (SOLUTION_STATUS_*): whether a solution exists.
const (
	SolCodeNone     = 0
	SolCodeFeasible = 2
)

// StatusCode maps a solver status to cornflow's status_code.
func StatusCode(s job.SolverStatus) int {
	switch s {
	case job.StatusOptimal:
		return StatusCodeOptimal
	case job.StatusFeasible:
		return StatusCodeFeasible
	case job.StatusInfeasible:
		return StatusCodeInfeasible
	case job.StatusUnbounded:
		return StatusCodeUnbounded
	case job.StatusTimeLimit:
		return StatusCodeTimeLimit
	case job.StatusNotSolved:
		return StatusCodeNotSolved
	}
	return StatusCodeUndefined
}

// MaxProgressRows bounds the Log's progress table: when the table is full, every other
// row is dropped and later rows are sampled half as often, so a long run
// keeps an evenly thinned history from start to end.
const MaxProgressRows = 2000

// ProgressRow is one row of the progress table: a branch-and-bound node
// report or an iteration of a heuristic. JSON keys are the column names of
// cornflow's log_json progress table (orloge's), so existing dashboards read
// it unchanged. Pointer fields are optional.
type ProgressRow struct {
	// Node is the number of nodes explored (or the iteration number).
	Node int64 `json:"Node"`
	// NodesLeft is the number of open nodes.
	NodesLeft int64 `json:"NodesLeft,omitempty"`
	// Objective is the objective of the current node or iteration.
	Objective *float64 `json:"Objective,omitempty"`
	// IInf is the number of integer infeasibilities at the node.
	IInf int64 `json:"IInf,omitempty"`
	// BestInteger is the objective of the best solution so far.
	BestInteger *float64 `json:"BestInteger,omitempty"`
	// CutsBestBound is the best proven bound so far.
	CutsBestBound *float64 `json:"CutsBestBound,omitempty"`
	// Gap is the relative gap between BestInteger and CutsBestBound.
	Gap *float64 `json:"Gap,omitempty"`
	// Time is the time since the solve started, in seconds; Log.Progress
	// fills it when zero.
	Time float64 `json:"Time"`
}

// Matrix is the size of a model (cornflow's log_json matrix).
type Matrix struct {
	Constraints int64 `json:"constraints"` // rows
	Variables   int64 `json:"variables"`   // columns
	Nonzeros    int64 `json:"nonzeros"`    // non-zero coefficients
}

// Log is the structured solver log of one execution, cornflow's log_json.
// Solvers fill it while they run and the App completes it from the Result
// (status, status_code, sol_code, time, best_solution, ...).
//
// Log is safe for concurrent use through its methods. Set fields directly
// only from the goroutine that runs the solver and while no other goroutine
// uses the Log; otherwise use Update.
type Log struct {
	// Solver names the engine, e.g. "cbc".
	Solver string `json:"solver,omitempty"`
	// Version is the engine's version, if known.
	Version string `json:"version,omitempty"`
	// Status is the solver's own words for how it ended ("Optimal solution
	// found"); the App sets the solver status when empty.
	Status string `json:"status,omitempty"`
	// StatusCode is cornflow's status code (StatusCode*).
	StatusCode int `json:"status_code"`
	// SolCode is cornflow's solution code (SolCode*).
	SolCode int `json:"sol_code"`
	// Time is the solve time in seconds.
	Time float64 `json:"time"`
	// Nodes is the number of branch-and-bound nodes (or iterations).
	Nodes int64 `json:"nodes"`
	// BestBound is the best proven bound.
	BestBound *float64 `json:"best_bound"`
	// BestSolution is the objective of the best solution.
	BestSolution *float64 `json:"best_solution"`
	// Gap is the relative gap |best_solution - best_bound| / |best_solution|.
	Gap *float64 `json:"gap"`
	// FirstRelaxed is the objective of the first (root) relaxation.
	FirstRelaxed *float64 `json:"first_relaxed,omitempty"`
	// FirstSolution is the progress row at which the first solution was found.
	FirstSolution *ProgressRow `json:"first_solution,omitempty"`
	// Matrix is the model size, if known.
	Matrix *Matrix `json:"matrix,omitempty"`
	// ProgressTable is the progress table, oldest row first; append to it
	// with Progress.
	ProgressTable []ProgressRow `json:"progress"`

	mu     sync.Mutex
	start  time.Time
	stride int // keep one incoming row in stride once the table was thinned
	skip   int
}

// NewLog returns an empty log for the named engine whose clock starts now.
func NewLog(solverName string) *Log {
	return &Log{Solver: solverName, start: time.Now(), stride: 1, ProgressTable: []ProgressRow{}}
}

// Since returns the seconds elapsed since the log's clock started (see
// NewLog; a zero Log starts its clock on first use).
func (l *Log) Since() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	return time.Since(l.start).Seconds()
}

// Progress appends a row to the progress table (see MaxProgressRows) and
// updates nodes, best_solution, best_bound and gap from it. Row.Time is
// filled when zero.
func (l *Log) Progress(row ProgressRow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	if row.Time == 0 {
		row.Time = time.Since(l.start).Seconds()
	}
	if row.Node > l.Nodes {
		l.Nodes = row.Node
	}
	if row.BestInteger != nil {
		l.BestSolution = job.Float(*row.BestInteger)
		if l.FirstSolution == nil {
			r := row
			l.FirstSolution = &r
		}
	}
	if row.CutsBestBound != nil {
		l.BestBound = job.Float(*row.CutsBestBound)
	}
	if row.Gap == nil {
		row.Gap = RelGap(row.BestInteger, row.CutsBestBound)
	}
	if g := RelGap(l.BestSolution, l.BestBound); g != nil {
		l.Gap = g
	}
	if l.stride < 1 {
		l.stride = 1
	}
	if l.skip++; l.skip < l.stride {
		return
	}
	l.skip = 0
	if len(l.ProgressTable) >= MaxProgressRows {
		kept := l.ProgressTable[:0]
		for i := 0; i < len(l.ProgressTable); i += 2 {
			kept = append(kept, l.ProgressTable[i])
		}
		l.ProgressTable = kept
		l.stride *= 2
	}
	l.ProgressTable = append(l.ProgressTable, row)
}

// Update runs fn with the log locked, for consistent edits of several fields
// while other goroutines use the log.
func (l *Log) Update(fn func(l *Log)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(l)
}

// found records a new best solution objective.
func (l *Log) found(objective float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	l.BestSolution = job.Float(objective)
	if l.FirstSolution == nil {
		l.FirstSolution = &ProgressRow{Node: l.Nodes, BestInteger: job.Float(objective), Time: time.Since(l.start).Seconds()}
	}
	if g := RelGap(l.BestSolution, l.BestBound); g != nil {
		l.Gap = g
	}
}

// logJSON is Log without its methods, for encoding.
type logJSON Log

// MarshalJSON encodes the log under its lock.
func (l *Log) MarshalJSON() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return json.Marshal((*logJSON)(l))
}

// Map returns the log as the generic map job.Result.SolverLog holds.
func (l *Log) Map() map[string]any {
	if l == nil {
		return nil
	}
	b, err := json.Marshal(l)
	if err != nil { // only non-finite floats can fail; drop them
		l.Update(func(l *Log) { l.sanitize() })
		if b, err = json.Marshal(l); err != nil {
			return map[string]any{"solver": l.Solver, "status": l.Status}
		}
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func (l *Log) sanitize() {
	l.BestBound, l.BestSolution = finite(l.BestBound), finite(l.BestSolution)
	l.Gap, l.FirstRelaxed = finite(l.Gap), finite(l.FirstRelaxed)
	if math.IsNaN(l.Time) || math.IsInf(l.Time, 0) {
		l.Time = 0
	}
	for i := range l.ProgressTable {
		l.ProgressTable[i].sanitize()
	}
	if l.FirstSolution != nil {
		l.FirstSolution.sanitize()
	}
}

func (r *ProgressRow) sanitize() {
	r.Objective, r.BestInteger = finite(r.Objective), finite(r.BestInteger)
	r.CutsBestBound, r.Gap = finite(r.CutsBestBound), finite(r.Gap)
	if math.IsNaN(r.Time) || math.IsInf(r.Time, 0) {
		r.Time = 0
	}
}

// finite returns p, or nil when *p is NaN or infinite (JSON has neither).
func finite(p *float64) *float64 {
	if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
		return nil
	}
	return p
}

// RelGap returns the relative gap |best - bound| / max(|best|, 1e-10), or
// nil when either value is unknown or not finite.
func RelGap(best, bound *float64) *float64 {
	if best == nil || bound == nil {
		return nil
	}
	b, d := *best, *bound
	if math.IsNaN(b) || math.IsInf(b, 0) || math.IsNaN(d) || math.IsInf(d, 0) {
		return nil
	}
	return job.Float(math.Abs(b-d) / math.Max(math.Abs(b), 1e-10))
}
