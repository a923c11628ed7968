// Package experiment holds the records of solvekit's experiments (instance
// sets, experiments, their results) and the pure math that turns a results
// table into comparisons: aggregates per variant, the Dolan–Moré
// performance profile, primal integrals, a baseline comparison, CSV and
// SVG charts. It depends on the standard library only, so that the REST
// wire types and the Go client can use it (see docs/experiments.md).
//
// An experiment runs every cell (instance × variant × repetition) of a job
// type over a stored instance set; the Service (package solvekit) submits
// the cells and reads their executions back into Rows.
package experiment

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// InstanceSet is a named, tagged collection of stored instances.
type InstanceSet struct {
	// ID is generated at creation (a UUIDv7).
	ID string `json:"id"`
	// Name is a human label (e.g. "knapsack-small").
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// JobType, when set, is the job type the instances were validated for.
	JobType string `json:"job_type,omitempty"`
	// Tags label the set.
	Tags []string `json:"tags,omitempty"`
	// InstanceIDs are the stored instances, in the set's order.
	InstanceIDs []string `json:"instance_ids"`
	// Owner owns the set.
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Variant is one way of running the experiment's job type: a solver and
// config overrides, named by a label.
type Variant struct {
	// Label names the variant in results (e.g. "greedy", "bb-v2").
	Label string `json:"label"`
	// Solver picks the job type's solver ("" keeps the config's or the
	// default one).
	Solver string `json:"solver,omitempty"`
	// Config is the run configuration of the variant's executions.
	Config json.RawMessage `json:"config,omitempty"`
}

// State is where an experiment stands.
type State string

// Experiment states.
const (
	// StateRunning: cells are being submitted or are still running.
	StateRunning State = "running"
	// StateFinished: every cell was submitted and has finished.
	StateFinished State = "finished"
	// StateStopped: stopped by StopExperiment; its unfinished cells were
	// cancelled and nothing more is submitted.
	StateStopped State = "stopped"
)

// Sense is the objective's direction.
type Sense string

// Objective senses.
const (
	// Minimize: a lower objective is better (the default).
	Minimize Sense = "min"
	// Maximize: a higher objective is better.
	Maximize Sense = "max"
)

// Experiment runs a job type's variants over an instance set, each cell
// (instance × variant × repetition) as one execution.
type Experiment struct {
	// ID is generated at creation (a UUIDv7); cell i's execution has the
	// id ExecutionID(ID, i).
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// JobType names a registered async job type.
	JobType string `json:"job_type"`
	// InstanceSetID names the set the experiment runs over; InstanceIDs
	// are its instances when the experiment was created (later changes of
	// the set do not change the experiment).
	InstanceSetID string   `json:"instance_set_id"`
	InstanceIDs   []string `json:"instance_ids"`
	// Variants are the configurations compared.
	Variants []Variant `json:"variants"`
	// Repetitions is how often each instance runs under each variant.
	// With more than one, repetition r (0-based) sets the config field
	// SeedField to r+1.
	Repetitions int `json:"repetitions"`
	// SeedField is the config field that carries the seed ("seed").
	SeedField string `json:"seed_field,omitempty"`
	// TimeLimitSeconds is each execution's hard time limit (0: the job
	// type's); unsolved cells count with it in the time means.
	TimeLimitSeconds float64 `json:"time_limit_seconds,omitempty"`
	// MaxInFlight bounds how many of its executions are queued or running
	// at once.
	MaxInFlight int `json:"max_in_flight"`
	// Sense is the objective's direction, for wins, gaps and comparisons.
	Sense Sense `json:"sense"`
	// Baseline marks an experiment that later ones are compared with.
	Baseline bool `json:"baseline,omitempty"`
	// Tags label the experiment.
	Tags  []string `json:"tags,omitempty"`
	Owner string   `json:"owner,omitempty"`

	State State `json:"state"`
	// Cells is how many executions the experiment has in all; Submitted
	// how many were submitted so far (in cell order); Finished how many
	// were seen finished, their results rows stored.
	Cells      int        `json:"cells"`
	Submitted  int        `json:"submitted"`
	Finished   int        `json:"finished"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// CellOf returns the instance, variant and repetition (all 0-based) of
// cell i. Cells interleave the variants, so that at any time each has had
// about the same share of the machines: i = ((rep × instances) + instance)
// × variants + variant.
func (e *Experiment) CellOf(i int) (instance, variant, rep int) {
	nv, ni := len(e.Variants), len(e.InstanceIDs)
	return (i / nv) % ni, i % nv, i / (nv * ni)
}

// CellCount is instances × variants × repetitions.
func (e *Experiment) CellCount() int {
	return len(e.InstanceIDs) * len(e.Variants) * max(e.Repetitions, 1)
}

// ExecutionID is the id of cell i's execution: the same in every process,
// so that a cell is submitted once however many processes drive it.
func (e *Experiment) ExecutionID(i int) string { return ExecutionID(e.ID, i) }

// ExecutionID is the id of cell i's execution in experiment id: the
// name-based UUID (version 5, RFC 9562) of the name "cell <i>" in the
// namespace id, so that it is an id like any other execution's (the REST
// API takes UUIDs) and the same wherever it is computed.
func ExecutionID(id string, i int) string {
	ns, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(ns) != 16 {
		ns = []byte(id) // not a UUID: hashed as it is
	}
	h := sha1.Sum(append(ns, "cell "+strconv.Itoa(i)...))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// CellPending is a Row's State before its cell was submitted; CellMissing
// when its execution no longer exists (deleted, or removed by retention).
const (
	CellPending = "pending"
	CellMissing = "missing"
)

// Point is an incumbent: its objective, T seconds after the execution
// started.
type Point struct {
	T         float64 `json:"t"`
	Objective float64 `json:"objective"`
}

// Row is one cell of the results table.
type Row struct {
	Cell        int    `json:"cell"`
	InstanceID  string `json:"instance_id"`
	Instance    int    `json:"instance"`
	Variant     string `json:"variant"`
	Repetition  int    `json:"repetition"`
	ExecutionID string `json:"execution_id"`
	// State is the execution's state, CellPending or CellMissing.
	State        string   `json:"state"`
	SolverStatus string   `json:"solver_status,omitempty"`
	Objective    *float64 `json:"objective,omitempty"`
	BestBound    *float64 `json:"best_bound,omitempty"`
	// Gap is the solver's reported gap, else solver.RelGap's
	// |objective − bound| / max(|objective|, 1e-10) when both are known
	// and finite.
	Gap *float64 `json:"gap,omitempty"`
	// TimeToBest is the seconds from start to the first incumbent with
	// the final objective (Time when no incumbent was published).
	TimeToBest *float64 `json:"time_to_best,omitempty"`
	// Time is the seconds from start to finish.
	Time *float64           `json:"time,omitempty"`
	KPIs map[string]float64 `json:"kpis,omitempty"`
	// Incumbents are the execution's incumbents over time (its last
	// attempt's; at most MaxIncumbents).
	Incumbents []Point `json:"incumbents,omitempty"`
}

// MaxIncumbents bounds the incumbents a Row keeps (Thin), so that a
// results table stays small whatever its solvers report.
const MaxIncumbents = 100

// Thin returns at most n of pts (n ≥ 2): the first, the last and others
// evenly spaced between, in order; pts itself when it has n or fewer.
// For incumbents that improve one after another (as a solver reports
// them), dropping intermediate ones can only raise a primal integral
// (each kept one holds longer), never lower it.
func Thin(pts []Point, n int) []Point {
	if len(pts) <= n {
		return pts
	}
	out := make([]Point, 0, n)
	for i := range n {
		out = append(out, pts[i*(len(pts)-1)/(n-1)])
	}
	return out
}

// Finished says the row's execution ended (succeeded, failed, stopped,
// timed out).
func (r *Row) Finished() bool {
	switch r.State {
	case "succeeded", "failed", "stopped", "timed_out", "invalid":
		return true
	}
	return false
}

// Solved says the cell counts as solved: it succeeded and its solver
// status is optimal, infeasible or unbounded (proven), or not given.
func (r *Row) Solved() bool {
	if r.State != "succeeded" {
		return false
	}
	switch r.SolverStatus {
	case "", "optimal", "infeasible", "unbounded":
		return true
	}
	return false
}

// Results is an experiment's results table with its summaries.
type Results struct {
	Experiment *Experiment `json:"experiment"`
	// Rows are the cells in cell order.
	Rows []Row `json:"rows"`
	// Aggregates are per variant, in the experiment's variant order.
	Aggregates []Aggregate `json:"aggregates"`
	// Profile is the Dolan–Moré performance profile of the variants'
	// times.
	Profile []Curve `json:"profile"`
}
