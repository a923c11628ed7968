package api

import (
	"encoding/json"

	"github.com/solvekit/solvekit/job/record"
)

// InstanceCreate is the JSON body of POST /instances. The same fields may
// come as multipart/form-data with the data in a part named "file" (.json,
// .mps or .lp; MPS and LP models are stored as {"format":"mps"|"lp",
// "model":"<text>"}, the shape solver/external reads) and metadata as a
// JSON object text.
type InstanceCreate struct {
	Name        string `json:"name,omitempty" validate:"max=256"`
	Description string `json:"description,omitempty" validate:"max=4096"`
	// JobType, when given, validates Data against its instance schema.
	JobType  string            `json:"job_type,omitempty" validate:"max=128"`
	Data     json.RawMessage   `json:"data" validate:"required"`
	Metadata map[string]string `json:"metadata,omitempty" validate:"max=64,dive,keys,min=1,max=128,endkeys,max=1024"`

	// Tags label the instance (GET /tags, GET /instances?tag=).
	Tags []string `json:"tags,omitempty" validate:"max=32,dive,min=1,max=64"`
}

// Instance is a stored instance's record.
type Instance = record.Instance

// InstanceList is a page of instances.
type InstanceList struct {
	Instances    []*record.Instance `json:"instances"`
	TotalEntries int64              `json:"total_entries"`
	// NextPageToken reads the next page (?page_token=); absent on the
	// last page.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// InstancePatch is the body of PATCH /instances/{id}; the data itself is
// immutable so that executions stay reproducible.
type InstancePatch struct {
	Name        *string            `json:"name,omitempty" validate:"omitempty,max=256"`
	Description *string            `json:"description,omitempty" validate:"omitempty,max=4096"`
	Metadata    *map[string]string `json:"metadata,omitempty" validate:"omitempty,max=64,dive,keys,min=1,max=128,endkeys,max=1024"`

	// Tags replaces the instance's tags ([] clears them).
	Tags *[]string `json:"tags,omitempty" validate:"omitempty,max=32,dive,min=1,max=64"`
}

// CheckRequest is the optional body of POST /instances/{id}/checks.
type CheckRequest struct {
	// JobType checks against another job type than the instance's own.
	JobType string `json:"job_type,omitempty" validate:"max=128"`
}

// CheckReport is the answer of POST /instances/{id}/checks.
type CheckReport struct {
	JobType string `json:"job_type"`
	// Valid is false when the schema or an error-level check fails.
	Valid bool `json:"valid"`
	// Violations says why Valid is false: the schema violations, then
	// each error-level check finding (keyword: the check's name).
	Violations []record.Violation `json:"violations"`
	// Checks lists every check finding, warnings included.
	Checks []record.CheckResult `json:"checks"`
}
