package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/registry"
	"github.com/solvekit/solvekit/transport/api"
)

func nowUTC() time.Time { return time.Now().UTC() }

func (h *handler) health(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.svc.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: "unavailable", Redis: "down"})
		return nil
	}
	writeJSON(w, http.StatusOK, api.Health{Status: "ok", Redis: "ok"})
	return nil
}

func (h *handler) version(w http.ResponseWriter, _ *http.Request, _ *Principal) error {
	writeJSON(w, http.StatusOK, api.Version{Version: solvekit.Version})
	return nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	counts, err := h.svc.Counts(r.Context())
	if err != nil {
		return err
	}
	out := api.ServiceStatus{Name: "solvekit", Version: solvekit.Version, JobTypes: []string{}, Counts: counts}
	for _, t := range h.svc.Registry().List() {
		out.JobTypes = append(out.JobTypes, t.Name())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) jobTypeOut(t *registry.Type) *api.JobType {
	d := t.Def
	jt := &api.JobType{Name: d.Name, Kind: d.Kind, Description: d.Description, Queue: d.QueueName(),
		TimeoutSeconds: d.Timeout.Seconds(), MaxRetries: d.Retries(), Solvers: slices.Clone(d.Solvers),
		DefaultSolver: d.DefaultSolver, IsPaused: h.svc.JobTypePaused(d.Name),
		Tags: slices.Clone(d.Tags), RequiredTags: slices.Clone(d.RequiredTags)}
	if jt.Solvers == nil {
		jt.Solvers = []string{}
	}
	return jt
}

func rawSchema(s *registry.Schema) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return s.Raw()
}

func (h *handler) listJobTypes(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	all := h.svc.Registry().List()
	onPage := all[min(pg.offset, len(all)):min(pg.offset+pg.limit, len(all))]
	writeJSON(w, http.StatusOK, api.JobTypeList{JobTypes: mapSlice(onPage, h.jobTypeOut), TotalEntries: int64(len(all))})
	return nil
}

func (h *handler) jobTypeDetail(t *registry.Type) *api.JobTypeDetail {
	return &api.JobTypeDetail{JobType: *h.jobTypeOut(t), InstanceSchema: rawSchema(t.Instance),
		ConfigSchema: rawSchema(t.Config), SolutionSchema: rawSchema(t.Solution)}
}

func (h *handler) getJobType(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	t, err := h.svc.Registry().Lookup(r.PathValue("name"))
	return answer(w, t, err, h.jobTypeDetail)
}

func (h *handler) patchJobType(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	req, _, err := decodePatch[api.JobTypePatch](h, r, "is_paused")
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := h.svc.PauseJobType(r.Context(), name, *req.IsPaused); err != nil {
		return err
	}
	t, err := h.svc.Registry().Lookup(name)
	return answer(w, t, err, h.jobTypeDetail)
}

func queueOut(qi *solvekit.QueueInfo) *api.Queue {
	return &api.Queue{Name: qi.Name, Size: qi.Size, Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled,
		Retry: qi.Retry, Archived: qi.Archived, Completed: qi.Completed, LatencySeconds: qi.Latency.Seconds(), Paused: qi.Paused}
}

func (h *handler) listQueues(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	qs, err := h.svc.Queues(r.Context())
	return okJSON(w, api.QueueList{Queues: mapSlice(qs, queueOut), TotalEntries: int64(len(qs))}, err)
}

func (h *handler) pauseQueue(pause bool) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		qi, err := h.svc.PauseQueue(r.Context(), r.PathValue("name"), pause)
		return answer(w, qi, err, queueOut)
	}
}

func (h *handler) listWorkers(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	ws, err := h.svc.Workers(r.Context())
	return okJSON(w, api.WorkerList{Workers: mapSlice(ws, workerOut), TotalEntries: int64(len(ws))}, err)
}

func workerOut(w *solvekit.WorkerInfo) *api.Worker {
	return &api.Worker{ID: w.ID, Host: w.Host, PID: w.PID, Concurrency: w.Concurrency,
		Queues: w.Queues, Status: w.Status, StartedAt: w.StartedAt, ActiveWorkers: w.Active,
		Executions: append([]string{}, w.Executions...)}
}
