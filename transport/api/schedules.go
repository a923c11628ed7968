package api

import (
	"encoding/json"

	"github.com/solvekit/solvekit/job/record"
)

// ScheduleCreate is the body of POST /schedules: a periodic schedule that
// creates an execution of job_type at each tick of cron, read in
// time_zone.
type ScheduleCreate struct {
	Name string `json:"name,omitempty" validate:"max=256"`
	// Cron has five fields (minute hour day-of-month month day-of-week),
	// or six with seconds first, or is a descriptor (@hourly, @every 10m).
	Cron string `json:"cron" validate:"required,max=256"`
	// TimeZone is an IANA time zone (default UTC).
	TimeZone string `json:"time_zone,omitempty" validate:"max=64"`
	// JobType names a registered async job type.
	JobType string `json:"job_type" validate:"required,max=128"`
	// InstanceID (a stored instance, read at each tick) or Instance
	// (inline): exactly one.
	InstanceID string            `json:"instance_id,omitempty" validate:"omitempty,uuid"`
	Instance   json.RawMessage   `json:"instance,omitempty"`
	Config     json.RawMessage   `json:"config,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty" validate:"max=63,dive,keys,min=1,max=128,endkeys,max=1024"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// CatchUp is what happens to ticks missed while no worker ran: skip
	// (default) or once.
	CatchUp string `json:"catch_up,omitempty" validate:"max=16"`
}

// SchedulePatch is the body of PATCH /schedules/{id}; absent fields (or
// those left out of update_mask) are kept.
type SchedulePatch struct {
	Name       *string            `json:"name,omitempty" validate:"omitempty,max=256"`
	Cron       *string            `json:"cron,omitempty" validate:"omitempty,max=256"`
	TimeZone   *string            `json:"time_zone,omitempty" validate:"omitempty,max=64"`
	JobType    *string            `json:"job_type,omitempty" validate:"omitempty,max=128"`
	InstanceID *string            `json:"instance_id,omitempty" validate:"omitempty,uuid"`
	Instance   *json.RawMessage   `json:"instance,omitempty"`
	Config     *json.RawMessage   `json:"config,omitempty"`
	Metadata   *map[string]string `json:"metadata,omitempty" validate:"omitempty,max=63,dive,keys,min=1,max=128,endkeys,max=1024"`
	Enabled    *bool              `json:"enabled,omitempty"`
	CatchUp    *string            `json:"catch_up,omitempty" validate:"omitempty,max=16"`
}

// Schedule is a periodic schedule as the API shows it (the record the Go
// API returns). Each tick creates the execution "<id>-<tick as Unix
// seconds>", with schedule_id set and the label solvekit.schedule=<id>
// (GET /executions?schedule_id=).
type Schedule = record.Schedule

// ScheduleList lists schedules, oldest first.
type ScheduleList struct {
	Schedules    []*Schedule `json:"schedules"`
	TotalEntries int64       `json:"total_entries"`
}
