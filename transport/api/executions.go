package api

import (
	"encoding/json"
	"time"

	"github.com/solvekit/solvekit/job/record"
)

// ExecutionCreate is the body of POST /executions.
type ExecutionCreate struct {
	// ID, when set, is the new execution's id instead of a generated one:
	// 1 to 64 letters, digits, '-', '_' or '.'; an id in use is 409.
	ID string `json:"id,omitempty" validate:"omitempty,max=64"`
	// JobType names a registered job type.
	JobType string `json:"job_type" validate:"required,max=128"`
	// InstanceID runs on a stored instance; Instance gives the data
	// inline. Exactly one is required.
	InstanceID string          `json:"instance_id,omitempty" validate:"omitempty,uuid"`
	Instance   json.RawMessage `json:"instance,omitempty"`
	// Solver picks a solver (overrides config.solver).
	Solver string `json:"solver,omitempty" validate:"max=128"`
	// Config is validated against the job type's config schema; its
	// defaults fill what is left out.
	Config   json.RawMessage   `json:"config,omitempty"`
	Name     string            `json:"name,omitempty" validate:"max=256"`
	Metadata map[string]string `json:"metadata,omitempty" validate:"max=64,dive,keys,min=1,max=128,endkeys,max=1024"`
	// Queue overrides the job type's queue; queue weights are how
	// priorities are expressed.
	Queue string `json:"queue,omitempty" validate:"omitempty,max=128,excludesall=:{}"`
	// Timeout overrides the job type's time limit, in seconds.
	Timeout float64 `json:"timeout,omitempty" validate:"gte=0,lte=31536000"`
	// ResultURL, when set, is called back (POST of this Execution, signed
	// with the service's callback secret in the Solvekit-Signature
	// header) when the execution ends; an absolute http or https URL.
	// See docs/callbacks.md.
	ResultURL string `json:"result_url,omitempty" validate:"omitempty,max=2048"`

	// Tags label the execution (GET /tags, ?tag=): each 1 to 64 of a-z,
	// 0-9, '.', '_', ':', '-'; at most 32 (others are 422).
	Tags []string `json:"tags,omitempty" validate:"max=32,dive,min=1,max=64"`
	// RequireTags are worker tags the execution needs (beside its job
	// type's): only a worker whose WorkerTags hold them all runs it; it
	// stays queued while none does. At most 6.
	RequireTags []string `json:"require_tags,omitempty" validate:"max=6,dive,min=1,max=64"`
	// RunAt (RFC 3339) or RunIn (a duration such as "90s" or "2h"), when
	// in the future, make the execution "scheduled" until then; async job
	// types only.
	RunAt *time.Time `json:"run_at,omitempty"`
	RunIn string     `json:"run_in,omitempty" validate:"max=32"`
}

// Execution is an execution record as the API shows it. JobKey is set
// only in the answer of POST /executions (the only time it is shown);
// Solution is set there too when the execution finished within the
// request (sync job types, or ?wait=).
type Execution struct {
	*record.Execution
	TimeoutSeconds float64         `json:"timeout_seconds"`
	JobKey         string          `json:"job_key,omitempty"`
	Solution       json.RawMessage `json:"solution,omitempty"`
}

// ExecutionList is a page of executions.
type ExecutionList struct {
	Executions []*Execution `json:"executions"`
	// TotalEntries is how many executions match in all, or -1 when
	// counting them would cost a scan of more than 1,000 records (a filter
	// combination that no one index serves; see the listing docs).
	TotalEntries int64 `json:"total_entries"`
	// NextPageToken reads the next page (?page_token=); absent on the
	// last page. A page of a filter served by scanning may hold fewer
	// than limit executions and still have a next one.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// ExecutionPatch is the body of PATCH /executions/{id}.
type ExecutionPatch struct {
	Name     *string            `json:"name,omitempty" validate:"omitempty,max=256"`
	Metadata *map[string]string `json:"metadata,omitempty" validate:"omitempty,max=64,dive,keys,min=1,max=128,endkeys,max=1024"`

	// Tags replaces the execution's tags ([] clears them); its
	// require_tags never change.
	Tags *[]string `json:"tags,omitempty" validate:"omitempty,max=32,dive,min=1,max=64"`
}

// ExecutionStatus is the answer of GET and PUT /executions/{id}/status.
type ExecutionStatus struct {
	ID              string              `json:"id"`
	State           record.State        `json:"state"`
	SolverStatus    record.SolverStatus `json:"solver_status,omitempty"`
	Attempt         int                 `json:"attempt"`
	Progress        float64             `json:"progress"`
	ProgressMessage string              `json:"progress_message,omitempty"`
	Objective       *float64            `json:"objective,omitempty"`
	CancelRequested bool                `json:"cancel_requested"`
	FinishedAt      *time.Time          `json:"finished_at,omitempty"`
}

// StatusUpdate is the body of PUT /executions/{id}/status: the only state
// a client may ask for is "stopped".
type StatusUpdate struct {
	State record.State `json:"state" validate:"required,oneof=stopped"`
}

// RelaunchRequest is the body of POST /executions/{id}/relaunch.
type RelaunchRequest struct {
	// Config replaces the config when given.
	Config json.RawMessage `json:"config,omitempty"`
}

// LogPage is a page of an execution's log.
type LogPage struct {
	Records      []record.LogRecord `json:"records"`
	TotalEntries int64              `json:"total_entries"`
	// Next is the cursor (?after=) of the following page, "" at the end.
	Next string `json:"next,omitempty"`
}

// FileList lists an execution's files.
type FileList struct {
	Files        []record.File `json:"files"`
	TotalEntries int64         `json:"total_entries"`
}

// CleanupResult is the answer of DELETE /executions?finished_before=.
type CleanupResult struct {
	DeletedEntries int `json:"deleted_entries"`
}

// ExecutionBatch is the body of POST /executions:batch: executions to
// submit together, all or none (Service.SubmitMany).
type ExecutionBatch struct {
	// Executions are 1 to 1000 submits, each as POST /executions takes it;
	// async job types only, and no idempotency key (choose ids instead).
	Executions []ExecutionCreate `json:"executions" validate:"required,min=1,max=1000,dive"`
}

// ExecutionBatchResult answers POST /executions:batch: the executions
// created, in the order of the request, each with its job key.
type ExecutionBatchResult struct {
	Executions []*Execution `json:"executions"`
}
