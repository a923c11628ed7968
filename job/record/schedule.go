package record

import (
	"encoding/json"
	"time"
)

// CatchUp says what a periodic schedule does about the ticks it missed
// while no process ran the service's workers (ticks older than the
// service's schedule grace).
type CatchUp string

// Catch-up policies.
const (
	// CatchUpSkip drops the missed ticks: the schedule resumes with the
	// ticks of the last schedule grace. The default.
	CatchUpSkip CatchUp = "skip"
	// CatchUpOnce runs one execution for the whole missed period (for its
	// last missed tick), then resumes as CatchUpSkip does.
	CatchUpOnce CatchUp = "once"
)

// Schedule is a periodic schedule: each tick of its cron spec creates an
// execution of its job type on its instance and config, with the id
// "<schedule id>-<tick as Unix seconds>", the schedule's id in
// Execution.ScheduleID and the label solvekit.schedule=<id>. Ticks fire
// once whatever the number of processes (see docs/schedules.md). It is
// the same record in the Go API and on the wire.
type Schedule struct {
	// ID is generated at creation (a UUIDv7).
	ID string `json:"id"`
	// Name is a human label.
	Name string `json:"name,omitempty"`
	// Cron is the cron spec: five fields (minute hour day-of-month month
	// day-of-week), or six with seconds first, or a descriptor such as
	// @hourly or @every 10m.
	Cron string `json:"cron"`
	// TimeZone is the IANA time zone the spec is read in. Default "UTC".
	TimeZone string `json:"time_zone"`
	// JobType names a registered async job type.
	JobType string `json:"job_type"`
	// Instance (inline) or InstanceID (stored, read at each firing):
	// exactly one.
	Instance   json.RawMessage `json:"instance,omitempty"`
	InstanceID string          `json:"instance_id,omitempty"`
	// Config is each execution's config.
	Config json.RawMessage `json:"config,omitempty"`
	// Metadata labels each execution (beside the schedule's label).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Owner owns the schedule and its executions.
	Owner string `json:"owner,omitempty"`
	// Enabled schedules fire; disabled ones keep their definition only.
	Enabled bool `json:"enabled"`
	// CatchUp is the policy for missed ticks. Default CatchUpSkip.
	CatchUp CatchUp `json:"catch_up"`
	// CreatedAt is when the schedule was created.
	CreatedAt time.Time `json:"created_at"`
	// NextRun is the next tick (nil when disabled).
	NextRun *time.Time `json:"next_run,omitempty"`
	// LastRun is the last tick that created an execution, and
	// LastExecutionID that execution's id.
	LastRun         *time.Time `json:"last_run,omitempty"`
	LastExecutionID string     `json:"last_execution_id,omitempty"`
	// LastError is why the last tick could not create its execution (the
	// job type or instance is gone, the instance no longer validates...);
	// empty when it could.
	LastError string `json:"last_error,omitempty"`
}
