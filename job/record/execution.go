package record

import (
	"encoding/json"
	"time"
)

// Execution is the stored record of one run of a job type: its state,
// timing, solver verdict and where its data lives. Instance, solution and
// logs are kept apart from it and read on demand.
type Execution struct {
	ID           string             `json:"id"`
	JobType      string             `json:"job_type"`
	Kind         Kind               `json:"kind"`
	Name         string             `json:"name,omitempty"`
	State        State              `json:"state"`
	SolverStatus SolverStatus       `json:"solver_status,omitempty"`
	Solver       string             `json:"solver,omitempty"`
	Attempt      int                `json:"attempt"`
	Retries      int                `json:"retries"`
	MaxRetries   int                `json:"max_retries"`
	Queue        string             `json:"queue"`
	Owner        string             `json:"owner,omitempty"`
	InstanceID   string             `json:"instance_id,omitempty"`
	Config       json.RawMessage    `json:"config,omitempty"`
	Metadata     map[string]string  `json:"metadata,omitempty"`
	Timeout      time.Duration      `json:"-"`
	CreatedAt    time.Time          `json:"created_at"`
	StartedAt    *time.Time         `json:"started_at,omitempty"`
	FinishedAt   *time.Time         `json:"finished_at,omitempty"`
	Worker       string             `json:"worker,omitempty"`
	Heartbeat    *time.Time         `json:"heartbeat,omitempty"`
	Progress     float64            `json:"progress"`
	ProgressMsg  string             `json:"progress_message,omitempty"`
	Objective    *float64           `json:"objective,omitempty"`
	BestBound    *float64           `json:"best_bound,omitempty"`
	Gap          *float64           `json:"gap,omitempty"`
	Stats        map[string]any     `json:"stats,omitempty"`
	Checks       []CheckResult      `json:"checks,omitempty"`
	KPIs         map[string]float64 `json:"kpis,omitempty"`
	SolverLog    map[string]any     `json:"log_json,omitempty"`
	HasSolution  bool               `json:"has_solution"`
	CancelReq    bool               `json:"cancel_requested,omitempty"`
	Error        *ErrorInfo         `json:"error,omitempty"`
	// ResultURL, when set, is called back (POST) once the execution
	// reaches a terminal state (see CallbackState and callbacks.go of
	// package solvekit).
	ResultURL string `json:"result_url,omitempty"`
	// CallbackState is where the delivery to ResultURL stands: pending,
	// delivered or failed; empty without a ResultURL or before the end.
	CallbackState CallbackState `json:"callback_state,omitempty"`
	// CallbackAttempts is how many attempts the current delivery to
	// ResultURL (the one of the last end) has had.
	CallbackAttempts int `json:"callback_attempts,omitempty"`

	// Tags label the execution (GET /tags, the ?tag= filter); they can be
	// changed at any time.
	Tags []string `json:"tags,omitempty"`
	// RequireTags are the worker tags the execution needs: only a worker
	// whose Config.WorkerTags hold them all runs it. Fixed at submit,
	// sorted.
	RequireTags []string `json:"require_tags,omitempty"`
	// RunAt is when an execution submitted with a run time is (or was)
	// due; absent for one queued at once.
	RunAt *time.Time `json:"run_at,omitempty"`
	// ScheduleID names the periodic schedule whose firing created the
	// execution; absent for one submitted directly.
	ScheduleID string `json:"schedule_id,omitempty"`
	// TraceParent is the W3C traceparent of the submit (see
	// solvekit.WithTraceParent), stored so that the attempts, in whatever
	// process runs them, join the submitter's trace. Not part of the JSON.
	TraceParent string `json:"-"`
}

// TimeoutSeconds is the attempt time limit in seconds (0: none), for JSON.
func (e *Execution) TimeoutSeconds() float64 { return e.Timeout.Seconds() }

// CheckResult is the outcome of one instance or solution check: an error
// (the data is unusable) or, with IsWarning, a warning (as cornflow's
// is_warning).
type CheckResult struct {
	// Name identifies the check, e.g. "capacity_positive".
	Name string `json:"name"`
	// Stage is "instance" or "solution".
	Stage string `json:"stage"`
	// Message explains the finding.
	Message string `json:"message"`
	// IsWarning marks a finding that does not make the data unusable.
	IsWarning bool `json:"is_warning"`
	// Pointer optionally locates the offending value (RFC 6901).
	Pointer string `json:"pointer,omitempty"`
}
