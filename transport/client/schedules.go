package client

import (
	"context"
	"net/url"

	"github.com/solvekit/solvekit/transport/api"
)

// --- schedules ---

// CreateSchedule calls POST /schedules.
func (c *Client) CreateSchedule(ctx context.Context, req api.ScheduleCreate) (*api.Schedule, error) {
	return call[api.Schedule](ctx, c, Request{Method: "POST", Path: "/schedules", Body: req})
}

// ScheduleFilter filters ListSchedules; zero fields do not filter.
type ScheduleFilter struct {
	JobType, Owner string
}

// ListSchedules calls GET /schedules.
func (c *Client) ListSchedules(ctx context.Context, f ScheduleFilter, p Page) (*api.ScheduleList, error) {
	q := url.Values{}
	if f.JobType != "" {
		q.Set("job_type", f.JobType)
	}
	if f.Owner != "" {
		q.Set("owner", f.Owner)
	}
	return call[api.ScheduleList](ctx, c, Request{Method: "GET", Path: "/schedules", Query: p.query(q)})
}

// GetSchedule calls GET /schedules/{id}.
func (c *Client) GetSchedule(ctx context.Context, id string) (*api.Schedule, error) {
	return call[api.Schedule](ctx, c, Request{Method: "GET", Path: "/schedules/" + esc(id)})
}

// PatchSchedule calls PATCH /schedules/{id}; mask, when given, names the
// fields to change (update_mask), so that a field can be cleared.
func (c *Client) PatchSchedule(ctx context.Context, id string, req api.SchedulePatch, mask ...string) (*api.Schedule, error) {
	return call[api.Schedule](ctx, c, Request{Method: "PATCH", Path: "/schedules/" + esc(id), Query: maskQuery(mask), Body: req})
}

// DeleteSchedule calls DELETE /schedules/{id}.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/schedules/" + esc(id)}, nil)
}
