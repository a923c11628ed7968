package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

func nowUTC() time.Time { return time.Now().UTC() }

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
	Name     string              `json:"name"`
	Version  string              `json:"version"`
	JobTypes []string            `json:"job_types"`
	Counts   map[job.State]int64 `json:"counts"`
}

// JobType describes a registered job type.
type JobType struct {
	Name           string   `json:"name"`
	Kind           job.Kind `json:"kind"`
	Description    string   `json:"description,omitempty"`
	Queue          string   `json:"queue"`
	TimeoutSeconds float64  `json:"timeout_seconds"`
	MaxRetries     int      `json:"max_retries"`
	Solvers        []string `json:"solvers"`
	DefaultSolver  string   `json:"default_solver,omitempty"`
	IsPaused       bool     `json:"is_paused"`
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
}

// WorkerList lists the workers.
type WorkerList struct {
	Workers      []*Worker `json:"workers"`
	TotalEntries int64     `json:"total_entries"`
}

func (h *handler) health(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.svc.Redis().Ping(ctx).Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Redis: "down"})
		return nil
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok", Redis: "ok"})
	return nil
}

func (h *handler) version(w http.ResponseWriter, _ *http.Request, _ *Principal) error {
	writeJSON(w, http.StatusOK, Version{Version: solvekit.Version})
	return nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	counts, err := h.svc.Counts(r.Context())
	if err != nil {
		return err
	}
	out := ServiceStatus{Name: "solvekit", Version: solvekit.Version, JobTypes: []string{}, Counts: counts}
	for _, t := range h.svc.Registry().List() {
		out.JobTypes = append(out.JobTypes, t.Name())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func jobTypeOut(t *registry.Type) *JobType {
	d := t.Def
	jt := &JobType{Name: d.Name, Kind: d.Kind, Description: d.Description, Queue: d.QueueName(),
		TimeoutSeconds: d.Timeout.Seconds(), MaxRetries: d.Retries(), Solvers: slices.Clone(d.Solvers),
		DefaultSolver: d.DefaultSolver, IsPaused: t.Paused()}
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
	out := JobTypeList{JobTypes: []*JobType{}, TotalEntries: int64(len(all))}
	for i := pg.offset; i < len(all) && i < pg.offset+pg.limit; i++ {
		out.JobTypes = append(out.JobTypes, jobTypeOut(all[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) jobTypeDetail(t *registry.Type) *JobTypeDetail {
	return &JobTypeDetail{JobType: *jobTypeOut(t), InstanceSchema: rawSchema(t.Instance),
		ConfigSchema: rawSchema(t.Config), SolutionSchema: rawSchema(t.Solution)}
}

func (h *handler) getJobType(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	t, err := h.svc.Registry().Lookup(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.jobTypeDetail(t))
	return nil
}

func (h *handler) patchJobType(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	if _, err := updateMask(r, "is_paused"); err != nil {
		return err
	}
	var req JobTypePatch
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	reg := h.svc.Registry()
	name := r.PathValue("name")
	if err := reg.SetPaused(name, *req.IsPaused); err != nil {
		return err
	}
	t, _ := reg.Lookup(name)
	writeJSON(w, http.StatusOK, h.jobTypeDetail(t))
	return nil
}

func queueOut(qi *asynq.QueueInfo) *Queue {
	return &Queue{Name: qi.Queue, Size: qi.Size, Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled,
		Retry: qi.Retry, Archived: qi.Archived, Completed: qi.Completed, LatencySeconds: qi.Latency.Seconds(), Paused: qi.Paused}
}

func (h *handler) listQueues(w http.ResponseWriter, _ *http.Request, _ *Principal) error {
	in := h.svc.Queue().Inspector()
	names, err := in.Queues()
	if err != nil {
		return err
	}
	slices.Sort(names)
	out := QueueList{Queues: []*Queue{}}
	for _, n := range names {
		qi, err := in.GetQueueInfo(n)
		if err != nil {
			if errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			return err
		}
		out.Queues = append(out.Queues, queueOut(qi))
	}
	out.TotalEntries = int64(len(out.Queues))
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) pauseQueue(pause bool) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		in := h.svc.Queue().Inspector()
		name := r.PathValue("name")
		names, err := in.Queues()
		if err != nil {
			return err
		}
		if !slices.Contains(names, name) {
			return notFoundErr("queue %q not found", name)
		}
		qi, err := in.GetQueueInfo(name)
		if err != nil {
			return err
		}
		if qi.Paused != pause {
			if pause {
				err = in.PauseQueue(name)
			} else {
				err = in.UnpauseQueue(name)
			}
			if err != nil {
				return err
			}
			if qi, err = in.GetQueueInfo(name); err != nil {
				return err
			}
		}
		writeJSON(w, http.StatusOK, queueOut(qi))
		return nil
	}
}

func (h *handler) listWorkers(w http.ResponseWriter, _ *http.Request, _ *Principal) error {
	srvs, err := h.svc.Queue().Inspector().Servers()
	if err != nil {
		return err
	}
	out := WorkerList{Workers: []*Worker{}, TotalEntries: int64(len(srvs))}
	for _, s := range srvs {
		out.Workers = append(out.Workers, &Worker{ID: s.ID, Host: s.Host, PID: s.PID, Concurrency: s.Concurrency,
			Queues: s.Queues, Status: s.Status, StartedAt: s.Started.UTC(), ActiveWorkers: len(s.ActiveWorkers)})
	}
	slices.SortFunc(out.Workers, func(a, b *Worker) int { return a.StartedAt.Compare(b.StartedAt) })
	writeJSON(w, http.StatusOK, out)
	return nil
}
