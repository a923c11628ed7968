package job

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
}

// TimeoutSeconds is the attempt time limit in seconds (0: none), for JSON.
func (e *Execution) TimeoutSeconds() float64 { return e.Timeout.Seconds() }
