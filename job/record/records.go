package record

import (
	"encoding/json"
	"regexp"
	"time"
)

// Instance is a stored input data set (JSON, or a file such as MPS or LP),
// reusable by many executions through SubmitRequest.InstanceID.
type Instance struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	JobType     string            `json:"job_type,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Format      string            `json:"format"`
	Size        int64             `json:"size"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`

	// Tags label the instance (GET /tags, GET /instances?tag=).
	Tags []string `json:"tags,omitempty"`
}

// File is a file attached to an execution (a report, a solver's output),
// kept beside the execution's record and deleted with it.
type File struct {
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
}

// FileNamePattern is what the name of an execution's file may look like:
// 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-'.
var FileNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// LogRecord is one stored log record of an execution, written through the
// job Context's Logger (or a solver's text output).
type LogRecord struct {
	// ID is the record's position in the log, usable as the "after" cursor
	// of the next page.
	ID      string         `json:"id"`
	Time    time.Time      `json:"time"`
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Attempt int            `json:"attempt"`
}

// Event is one entry of an execution's event stream: a state change
// ("status"), a progress report ("progress"), a new incumbent ("incumbent")
// or, when following an execution, a log record ("log").
type Event struct {
	// ID is the event's position in its stream (an SSE event id).
	ID string `json:"id"`
	// Type is "status", "progress", "incumbent" or "log".
	Type string `json:"type"`
	// Data is the event's JSON payload: the execution's state fields for
	// "status", {"progress","message"} for "progress", the objective for
	// "incumbent", a LogRecord for "log".
	Data json.RawMessage `json:"data"`
}
