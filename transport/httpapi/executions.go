package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
)

// ExecutionCreate is the body of POST /executions.
type ExecutionCreate struct {
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
}

// Execution is an execution record as the API shows it. JobKey is set
// only in the answer of POST /executions (the only time it is shown);
// Solution is set there too when the execution finished within the
// request (sync job types, or ?wait=).
type Execution struct {
	*job.Execution
	TimeoutSeconds float64         `json:"timeout_seconds"`
	JobKey         string          `json:"job_key,omitempty"`
	Solution       json.RawMessage `json:"solution,omitempty"`
}

func execOut(e *job.Execution) *Execution {
	return &Execution{Execution: e, TimeoutSeconds: e.Timeout.Seconds()}
}

// ExecutionList is a page of executions.
type ExecutionList struct {
	Executions   []*Execution `json:"executions"`
	TotalEntries int64        `json:"total_entries"`
}

// ExecutionPatch is the body of PATCH /executions/{id}.
type ExecutionPatch struct {
	Name     *string            `json:"name,omitempty" validate:"omitempty,max=256"`
	Metadata *map[string]string `json:"metadata,omitempty" validate:"omitempty,max=64,dive,keys,min=1,max=128,endkeys,max=1024"`
}

// ExecutionStatus is the answer of GET and PUT /executions/{id}/status.
type ExecutionStatus struct {
	ID              string           `json:"id"`
	State           job.State        `json:"state"`
	SolverStatus    job.SolverStatus `json:"solver_status,omitempty"`
	Attempt         int              `json:"attempt"`
	Progress        float64          `json:"progress"`
	ProgressMessage string           `json:"progress_message,omitempty"`
	Objective       *float64         `json:"objective,omitempty"`
	CancelRequested bool             `json:"cancel_requested"`
	FinishedAt      *time.Time       `json:"finished_at,omitempty"`
}

func statusOut(e *job.Execution) *ExecutionStatus {
	return &ExecutionStatus{ID: e.ID, State: e.State, SolverStatus: e.SolverStatus, Attempt: e.Attempt,
		Progress: e.Progress, ProgressMessage: e.ProgressMsg, Objective: e.Objective,
		CancelRequested: e.CancelReq, FinishedAt: e.FinishedAt}
}

// StatusUpdate is the body of PUT /executions/{id}/status: the only state
// a client may ask for is "stopped".
type StatusUpdate struct {
	State job.State `json:"state" validate:"required,oneof=stopped"`
}

// RelaunchRequest is the body of POST /executions/{id}/relaunch.
type RelaunchRequest struct {
	// Config replaces the config when given.
	Config json.RawMessage `json:"config,omitempty"`
}

// LogPage is a page of an execution's log.
type LogPage struct {
	Records      []store.LogRecord `json:"records"`
	TotalEntries int64             `json:"total_entries"`
	// Next is the cursor (?after=) of the following page, "" at the end.
	Next string `json:"next,omitempty"`
}

// FileList lists an execution's files.
type FileList struct {
	Files        []store.File `json:"files"`
	TotalEntries int64        `json:"total_entries"`
}

// CleanupResult is the answer of DELETE /executions?finished_before=.
type CleanupResult struct {
	DeletedEntries int `json:"deleted_entries"`
}

func (h *handler) canSee(p *Principal, owner string) bool {
	switch p.Role {
	case RoleAdmin, RoleService, RoleViewer:
		return true
	case RolePlanner:
		return owner == p.ID || h.opts.Sharing
	}
	return false
}

func (h *handler) canChange(p *Principal, owner string) bool {
	switch p.Role {
	case RoleAdmin, RoleService:
		return true
	case RolePlanner:
		return owner == p.ID
	}
	return false
}

// execution loads the {id} execution and checks that p may see it (and
// change it when write): invisible ones are 404, read-only ones 403.
func (h *handler) execution(r *http.Request, p *Principal, write bool) (*job.Execution, error) {
	id, err := pathID(r, "execution")
	if err != nil {
		return nil, err
	}
	e, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if p.Source == "job_key" {
		if p.ExecutionID == e.ID {
			return e, nil
		}
		return nil, notFoundErr("execution %q not found", id)
	}
	if !h.canSee(p, e.Owner) {
		return nil, notFoundErr("execution %q not found", id)
	}
	if write && !h.canChange(p, e.Owner) {
		return nil, forbidden("execution %q belongs to another user", id)
	}
	return e, nil
}

func nullish(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || string(t) == "null"
}

func parseWait(r *http.Request, max time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.ParseFloat(v, 64)
		if err2 != nil {
			err = err2
		} else {
			d, err = time.Duration(secs*float64(time.Second)), nil
		}
	}
	if err != nil || d < 0 || d > 24*time.Hour {
		return 0, &job.Error{Code: job.CodeBadRequest, Message: "wait must be a duration such as 30s",
			Violations: []job.Violation{{Pointer: "?wait", Keyword: "format", Message: "a non-negative duration such as 30s"}}}
	}
	return min(d, max), nil
}

func (h *handler) createExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wait, err := parseWait(r, h.opts.MaxWait)
	if err != nil {
		return err
	}
	var req ExecutionCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if req.InstanceID != "" {
		req.InstanceID = strings.ToLower(req.InstanceID)
		in, err := h.st.GetInstance(ctx, req.InstanceID)
		if err != nil || !h.canSee(p, in.Owner) {
			if err != nil && job.ErrorCode(err) != job.CodeNotFound {
				return err
			}
			return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("instance %q not found", req.InstanceID),
				Violations: []job.Violation{{Pointer: "/instance_id", Keyword: "exists", Message: "no such instance"}}}
		}
	}
	sreq := solvekit.SubmitRequest{
		JobType: req.JobType, InstanceID: req.InstanceID, Solver: req.Solver, Name: req.Name,
		Metadata: req.Metadata, Owner: p.ID, Queue: req.Queue,
		Timeout: time.Duration(req.Timeout * float64(time.Second)),
	}
	if !nullish(req.Instance) {
		sreq.Instance = req.Instance
	}
	if !nullish(req.Config) {
		sreq.Config = req.Config
	}
	e, err := h.svc.Submit(ctx, sreq)
	if err != nil {
		if job.ErrorCode(err) == job.CodeNotFound && req.InstanceID == "" {
			return &job.Error{Code: job.CodeInvalid, Message: err.Error(),
				Violations: []job.Violation{{Pointer: "/job_type", Keyword: "exists", Message: "no such job type"}}}
		}
		return err
	}
	key := store.NewJobKey()
	bg := context.WithoutCancel(ctx)
	if err := h.st.SetJobKey(bg, e.ID, key); err != nil {
		return err
	}
	if wait > 0 && !e.State.Terminal() {
		wctx, cancel := context.WithTimeout(ctx, wait)
		if w, err := h.svc.Wait(wctx, e.ID); err == nil || errors.Is(err, context.DeadlineExceeded) {
			if w != nil {
				e = w
			}
		} else if ctx.Err() == nil {
			cancel()
			return err
		}
		cancel()
	}
	out := execOut(e)
	out.JobKey = key
	if e.State.Terminal() && e.HasSolution {
		if sol, err := h.svc.Solution(bg, e.ID); err == nil {
			out.Solution = sol
		}
	}
	w.Header().Set("Location", h.opts.Prefix+"/executions/"+e.ID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

var statePattern = regexp.MustCompile(`^[a-z_]{1,32}$`)

func (h *handler) listExecutions(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var f store.Filter
	var viol []job.Violation
	if v := q.Get("status"); v != "" {
		if !job.State(v).Valid() {
			viol = append(viol, job.Violation{Pointer: "?status", Keyword: "enum", Message: fmt.Sprintf("unknown state %q", v)})
		}
		f.State = job.State(v)
	}
	if v := q.Get("job_type"); v != "" {
		if _, err := h.svc.Registry().Lookup(v); err != nil {
			viol = append(viol, job.Violation{Pointer: "?job_type", Keyword: "enum", Message: fmt.Sprintf("unknown job type %q", v)})
		}
		f.JobType = v
	}
	if v := q.Get("instance_id"); v != "" {
		if !uuidPattern.MatchString(v) {
			viol = append(viol, job.Violation{Pointer: "?instance_id", Keyword: "format", Message: "not an id"})
		}
		f.InstanceID = strings.ToLower(v)
	}
	if v := q.Get("owner"); v != "" {
		f.Owner = v
	}
	for _, name := range []string{"created_after", "created_before"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			viol = append(viol, job.Violation{Pointer: "?" + name, Keyword: "format", Message: "an RFC 3339 time such as 2025-01-02T15:04:05Z"})
			continue
		}
		if name == "created_after" {
			f.CreatedAfter = t
		} else {
			f.CreatedBefore = t
		}
	}
	for k, vs := range q {
		if mk, ok := strings.CutPrefix(k, "metadata."); ok && mk != "" && len(vs) > 0 {
			if f.Metadata == nil {
				f.Metadata = map[string]string{}
			}
			f.Metadata[mk] = vs[0]
		}
	}
	if len(viol) > 0 {
		return &job.Error{Code: job.CodeBadRequest, Message: "bad filter", Violations: viol}
	}
	if p.Role == RolePlanner && !h.opts.Sharing {
		if f.Owner != "" && f.Owner != p.ID {
			writeJSON(w, http.StatusOK, ExecutionList{Executions: []*Execution{}})
			return nil
		}
		f.Owner = p.ID
	}
	es, total, err := h.svc.List(r.Context(), solvekit.ListOptions{Filter: f, Limit: pg.limit, Offset: pg.offset})
	if err != nil {
		return err
	}
	out := ExecutionList{Executions: make([]*Execution, 0, len(es)), TotalEntries: total}
	for _, e := range es {
		out.Executions = append(out.Executions, execOut(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) getExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, execOut(e))
	return nil
}

func (h *handler) patchExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	mask, err := updateMask(r, "name", "metadata")
	if err != nil {
		return err
	}
	var req ExecutionPatch
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	e, err := h.execution(r, p, true)
	if err != nil {
		return err
	}
	var l store.Labels
	if (mask == nil && req.Name != nil) || mask["name"] {
		if req.Name == nil {
			req.Name = new(string)
		}
		l.Name = req.Name
	}
	if (mask == nil && req.Metadata != nil) || mask["metadata"] {
		l.SetMetadata = true
		if req.Metadata != nil {
			l.Metadata = *req.Metadata
		}
	}
	e, err = h.st.UpdateLabels(r.Context(), e.ID, l)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, execOut(e))
	return nil
}

func (h *handler) deleteExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, true)
	if err != nil {
		return err
	}
	if err := h.svc.Delete(r.Context(), e.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) cleanupExecutions(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	v := r.URL.Query().Get("finished_before")
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return &job.Error{Code: job.CodeBadRequest, Message: "finished_before is required: an RFC 3339 time",
			Violations: []job.Violation{{Pointer: "?finished_before", Keyword: "format", Message: "an RFC 3339 time such as 2025-01-02T15:04:05Z"}}}
	}
	n, err := h.svc.DeleteFinishedBefore(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, CleanupResult{DeletedEntries: n})
	return nil
}

func (h *handler) getStatus(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusOut(e))
	return nil
}

func (h *handler) putStatus(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req StatusUpdate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	e, err := h.execution(r, p, true)
	if err != nil {
		return err
	}
	if err := h.svc.Cancel(r.Context(), e.ID); err != nil {
		return err
	}
	if e, err = h.svc.Get(r.Context(), e.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusOut(e))
	return nil
}

func (h *handler) executionData(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	var b json.RawMessage
	switch part := r.URL.Query().Get("part"); part {
	case "", "solution":
		b, err = h.svc.Solution(r.Context(), e.ID)
	case "instance":
		b, err = h.svc.Instance(r.Context(), e.ID)
	case "incumbent":
		b, err = h.st.Incumbent(r.Context(), e.ID)
	default:
		return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("unknown part %q", part),
			Violations: []job.Violation{{Pointer: "?part", Keyword: "enum", Message: "one of solution, instance, incumbent"}}}
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func (h *handler) executionLog(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	after := r.URL.Query().Get("after")
	if after != "" && !streamIDPattern.MatchString(after) {
		return &job.Error{Code: job.CodeBadRequest, Message: "bad cursor",
			Violations: []job.Violation{{Pointer: "?after", Keyword: "format", Message: "a cursor from a previous page's next"}}}
	}
	if pg.offset > 100000 {
		return &job.Error{Code: job.CodeBadRequest, Message: "offset too large; use ?after= cursors",
			Violations: []job.Violation{{Pointer: "?offset", Keyword: "maximum", Message: "at most 100000"}}}
	}
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	recs, err := h.svc.Logs(ctx, e.ID, after, pg.offset+pg.limit)
	if err != nil {
		return err
	}
	if pg.offset < len(recs) {
		recs = recs[pg.offset:]
	} else {
		recs = nil
	}
	total, err := h.st.LogCount(ctx, e.ID)
	if err != nil {
		return err
	}
	out := LogPage{Records: recs, TotalEntries: total}
	if out.Records == nil {
		out.Records = []store.LogRecord{}
	}
	if len(recs) == pg.limit {
		out.Next = recs[len(recs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var streamIDPattern = regexp.MustCompile(`^[0-9]{1,20}(-[0-9]{1,20})?$`)

func (h *handler) relaunch(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req RelaunchRequest
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSONBytes(body, &req); err != nil {
			return err
		}
	}
	e, err := h.execution(r, p, true)
	if err != nil {
		return err
	}
	rr := solvekit.RelaunchRequest{}
	if !nullish(req.Config) {
		rr.Config = req.Config
	}
	e, err = h.svc.Relaunch(r.Context(), e.ID, rr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, execOut(e))
	return nil
}

func (h *handler) listFiles(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	fs, err := h.st.ListFiles(r.Context(), e.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, FileList{Files: fs, TotalEntries: int64(len(fs))})
	return nil
}

func (h *handler) uploadFiles(w http.ResponseWriter, r *http.Request, p *Principal) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return statusErr(http.StatusUnsupportedMediaType, "upload files as multipart/form-data with one or more parts named \"file\"")
	}
	e, err := h.execution(r, p, true)
	if err != nil {
		return err
	}
	parts, err := readMultipart(r, params["boundary"])
	if err != nil {
		return err
	}
	var files []store.File
	for _, pt := range parts {
		if pt.field != "file" {
			return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("unexpected form field %q; send parts named \"file\"", pt.field),
				Violations: []job.Violation{{Pointer: "/" + pt.field, Keyword: "additionalProperties", Message: "unknown field"}}}
		}
		if !store.FileNamePattern.MatchString(pt.filename) {
			return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("file name %q is not allowed", pt.filename),
				Violations: []job.Violation{{Pointer: "/file", Keyword: "pattern", Message: "file names use 1 to 128 letters, digits, '.', '_' or '-'"}}}
		}
	}
	if len(parts) == 0 {
		return badRequest("no file parts; send parts named \"file\"")
	}
	for _, pt := range parts {
		f := store.File{Name: pt.filename, ContentType: pt.contentType}
		if err := h.st.PutFile(r.Context(), e.ID, &f, pt.data, h.opts.MaxFileBytes); err != nil {
			return err
		}
		files = append(files, f)
	}
	writeJSON(w, http.StatusCreated, FileList{Files: files, TotalEntries: int64(len(files))})
	return nil
}

func (h *handler) downloadFile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	f, data, err := h.st.GetFile(r.Context(), e.ID, r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", f.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}
