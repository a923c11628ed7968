package api

import (
	"encoding/json"
	"time"

	"github.com/solvekit/solvekit/job/record"
)

// Health is the answer of GET /health.
type Health struct {
	Status string `json:"status"`
	Redis  string `json:"redis"`
}

// Version is the answer of GET /version.
type Version struct {
	Version string `json:"version"`
}

// ServiceStatus is the answer of GET /status.
type ServiceStatus struct {
	Name     string                 `json:"name"`
	Version  string                 `json:"version"`
	JobTypes []string               `json:"job_types"`
	Counts   map[record.State]int64 `json:"counts"`
}

// JobType describes a registered job type.
type JobType struct {
	Name           string      `json:"name"`
	Kind           record.Kind `json:"kind"`
	Description    string      `json:"description,omitempty"`
	Queue          string      `json:"queue"`
	TimeoutSeconds float64     `json:"timeout_seconds"`
	MaxRetries     int         `json:"max_retries"`
	Solvers        []string    `json:"solvers"`
	DefaultSolver  string      `json:"default_solver,omitempty"`
	IsPaused       bool        `json:"is_paused"`

	// Tags label the job type (job.WithTags); RequiredTags are the worker
	// tags all its executions require (job.WithRequiredTags).
	Tags         []string `json:"tags,omitempty"`
	RequiredTags []string `json:"required_tags,omitempty"`
}

// JobTypeDetail adds the JSON Schemas to a JobType (null when the type
// accepts any JSON value).
type JobTypeDetail struct {
	JobType
	InstanceSchema json.RawMessage `json:"instance_schema"`
	ConfigSchema   json.RawMessage `json:"config_schema"`
	SolutionSchema json.RawMessage `json:"solution_schema"`
}

// JobTypeList is a page of job types.
type JobTypeList struct {
	JobTypes     []*JobType `json:"job_types"`
	TotalEntries int64      `json:"total_entries"`
}

// JobTypePatch is the body of PATCH /jobTypes/{name}?update_mask=is_paused.
type JobTypePatch struct {
	IsPaused *bool `json:"is_paused" validate:"required"`
}

// Queue is one asynq queue's counts.
type Queue struct {
	Name           string  `json:"name"`
	Size           int     `json:"size"`
	Pending        int     `json:"pending"`
	Active         int     `json:"active"`
	Scheduled      int     `json:"scheduled"`
	Retry          int     `json:"retry"`
	Archived       int     `json:"archived"`
	Completed      int     `json:"completed"`
	LatencySeconds float64 `json:"latency_seconds"`
	Paused         bool    `json:"paused"`
}

// QueueList lists the queues.
type QueueList struct {
	Queues       []*Queue `json:"queues"`
	TotalEntries int64    `json:"total_entries"`
}

// Worker is one running worker process (an asynq server).
type Worker struct {
	ID            string         `json:"id"`
	Host          string         `json:"host"`
	PID           int            `json:"pid"`
	Concurrency   int            `json:"concurrency"`
	Queues        map[string]int `json:"queues"`
	Status        string         `json:"status"`
	StartedAt     time.Time      `json:"started_at"`
	ActiveWorkers int            `json:"active_workers"`
	// Executions are the ids of the executions it runs now, sorted.
	Executions []string `json:"executions"`
}

// WorkerList lists the workers.
type WorkerList struct {
	Workers      []*Worker `json:"workers"`
	TotalEntries int64     `json:"total_entries"`
}
