package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// parseRunIn reads ExecutionCreate.run_in, a duration such as "90s".
func parseRunIn(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("run_in %q is not a duration such as 90s", v),
			Violations: []job.Violation{{Pointer: "/run_in", Keyword: "format", Message: "a non-negative duration such as 90s or 2h"}}}
	}
	return d, nil
}

// checkInstanceRef refuses (422) a stored instance id that does not exist
// or that p may not see; "" passes.
func (h *handler) checkInstanceRef(ctx context.Context, p *Principal, id string) error {
	if id == "" {
		return nil
	}
	in, err := h.svc.GetInstance(ctx, id)
	if err != nil || !h.canSee(p, in.Owner) {
		if err != nil && job.ErrorCode(err) != job.CodeNotFound {
			return err
		}
		return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("instance %q not found", id),
			Violations: []job.Violation{{Pointer: "/instance_id", Keyword: "exists", Message: "no such instance"}}}
	}
	return nil
}

// schedule loads the {id} schedule and checks that p may see it (and
// change it when write), as for executions.
func (h *handler) schedule(r *http.Request, p *Principal, write bool) (*solvekit.Schedule, error) {
	return ownedByPath(h, r, p, write, "schedule", h.svc.Schedule, func(sc *solvekit.Schedule) (string, string) { return sc.ID, sc.Owner })
}

func (h *handler) createSchedule(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req api.ScheduleCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	req.InstanceID = strings.ToLower(req.InstanceID)
	if err := h.checkInstanceRef(r.Context(), p, req.InstanceID); err != nil {
		return err
	}
	sreq := solvekit.ScheduleRequest{Name: req.Name, Cron: req.Cron, TimeZone: req.TimeZone, JobType: req.JobType,
		InstanceID: req.InstanceID, Metadata: req.Metadata, Owner: p.ID, CatchUp: solvekit.CatchUp(req.CatchUp),
		Disabled: req.Enabled != nil && !*req.Enabled}
	if !nullish(req.Instance) {
		sreq.Instance = req.Instance
	}
	if !nullish(req.Config) {
		sreq.Config = req.Config
	}
	sc, err := h.svc.CreateSchedule(r.Context(), sreq)
	if err != nil {
		return err
	}
	return h.created(w, r, "/schedules/"+sc.ID, sc)
}

func (h *handler) listSchedules(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := solvekit.ScheduleFilter{Owner: q.Get("owner"), JobType: q.Get("job_type")}
	if !h.seesAll(p) {
		f.Owner = p.ID
	}
	all, err := h.svc.Schedules(r.Context(), f)
	if err != nil {
		return err
	}
	out := api.ScheduleList{Schedules: []*api.Schedule{}, TotalEntries: int64(len(all))}
	for i := pg.offset; i < len(all) && i < pg.offset+pg.limit; i++ {
		out.Schedules = append(out.Schedules, all[i])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) patchSchedule(w http.ResponseWriter, r *http.Request, p *Principal) error {
	req, mask, sc, err := patchOwned[api.SchedulePatch](h, r, p, h.schedule, scheduleMask...)
	if err != nil {
		return err
	}
	var u solvekit.ScheduleUpdate
	str := func(name string, v *string) *string {
		if !mask.writes(name, v != nil) {
			return nil
		}
		s := deref(v)
		return &s
	}
	u.Name, u.Cron, u.TimeZone, u.JobType = str("name", req.Name), str("cron", req.Cron), str("time_zone", req.TimeZone), str("job_type", req.JobType)
	if id := str("instance_id", req.InstanceID); id != nil && *id != "" {
		*id = strings.ToLower(*id)
		if err := h.checkInstanceRef(r.Context(), p, *id); err != nil {
			return err
		}
		u.InstanceID = id
	}
	if mask.writes("instance", req.Instance != nil) && req.Instance != nil {
		u.Instance = req.Instance
	}
	if mask.writes("config", req.Config != nil) {
		u.Config = req.Config
		if u.Config == nil {
			u.Config = new(json.RawMessage)
		}
	}
	if mask.writes("metadata", req.Metadata != nil) {
		md := map[string]string{}
		if req.Metadata != nil {
			md = *req.Metadata
		}
		u.Metadata = &md
	}
	if mask.writes("enabled", req.Enabled != nil) && req.Enabled != nil {
		u.Enabled = req.Enabled
	}
	if c := str("catch_up", req.CatchUp); c != nil {
		cu := solvekit.CatchUp(*c)
		u.CatchUp = &cu
	}
	out, err := h.svc.UpdateSchedule(r.Context(), sc.ID, u)
	return answer(w, out, err, same)
}

func (h *handler) deleteSchedule(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return deleteOwned(w, r, p, h.schedule, func(sc *solvekit.Schedule) string { return sc.ID }, h.svc.DeleteSchedule)
}
