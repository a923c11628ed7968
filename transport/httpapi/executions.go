package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/servicewait"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi/internal/users"
)

func execOut(e *job.Execution) *api.Execution {
	return &api.Execution{Execution: e, TimeoutSeconds: e.Timeout.Seconds()}
}

func statusOut(e *job.Execution) *api.ExecutionStatus {
	return &api.ExecutionStatus{ID: e.ID, State: e.State, SolverStatus: e.SolverStatus, Attempt: e.Attempt,
		Progress: e.Progress, ProgressMessage: e.ProgressMsg, Objective: e.Objective,
		CancelRequested: e.CancelReq, FinishedAt: e.FinishedAt}
}

func (h *handler) canSee(p *Principal, owner string) bool {
	switch p.Role {
	case api.RoleAdmin, api.RoleService, api.RoleViewer:
		return true
	case api.RolePlanner:
		return owner == p.ID || h.opts.Sharing
	}
	return false
}

func (h *handler) canChange(p *Principal, owner string) bool {
	switch p.Role {
	case api.RoleAdmin, api.RoleService:
		return true
	case api.RolePlanner:
		return owner == p.ID
	}
	return false
}

// execution loads the {id} execution and checks that p may see it (and
// change it when write): invisible ones are 404, read-only ones 403.
func (h *handler) execution(r *http.Request, p *Principal, write bool) (*job.Execution, error) {
	e, err := byPath(r, "execution", h.svc.Get)
	if err != nil {
		return nil, err
	}
	if err := h.visible(p, e, e.ID, write); err != nil {
		return nil, err
	}
	return e, nil
}

// visible checks that p may see execution e (and change it when write):
// invisible ones are 404, read-only ones 403. id is the id as asked.
func (h *handler) visible(p *Principal, e *job.Execution, id string, write bool) error {
	if p.Source == "job_key" {
		if p.ExecutionID == e.ID {
			return nil
		}
		return notFoundErr("execution %q not found", id)
	}
	return h.checkAccess(p, "execution", id, e.Owner, write)
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
	var req api.ExecutionCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	sreq, err := h.submitRequest(ctx, p, &req)
	if err != nil {
		return err
	}
	sreq.IdempotencyKey = r.Header.Get("Idempotency-Key")
	// Submit, then wait (long poll) up to wait for the end, with the
	// execution's done subscription in place before it is stored.
	if len(sreq.IdempotencyKey) > 255 {
		return &job.Error{Code: job.CodeBadRequest, Message: "the Idempotency-Key header is at most 255 bytes"}
	}
	e, replayed, waitErr, err := servicewait.SubmitWait(h.svc, ctx, sreq, wait)
	if err != nil {
		if job.ErrorCode(err) == job.CodeNotFound && req.InstanceID == "" {
			return &job.Error{Code: job.CodeInvalid, Message: err.Error(),
				Violations: []job.Violation{{Pointer: "/job_type", Keyword: "exists", Message: "no such job type"}}}
		}
		return err
	}
	if waitErr != nil && !errors.Is(waitErr, context.DeadlineExceeded) && ctx.Err() == nil {
		return waitErr
	}
	out := execOut(e)
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK // the first answer alone carried the job key
	} else {
		out.JobKey = sreq.JobKey
	}
	if e.State.Terminal() && e.HasSolution {
		if sol, err := h.svc.Solution(context.WithoutCancel(ctx), e.ID); err == nil {
			out.Solution = sol
		}
	}
	w.Header().Set("Location", h.basePath(r)+"/executions/"+e.ID)
	writeJSON(w, status, out)
	return nil
}

// submitRequest checks what a principal may ask for in one execution of
// POST /executions (queue, instance) and turns it into a SubmitRequest
// with a new job key.
func (h *handler) submitRequest(ctx context.Context, p *Principal, req *api.ExecutionCreate) (solvekit.SubmitRequest, error) {
	if err := h.checkQueueChoice(p, req.JobType, req.Queue); err != nil {
		return solvekit.SubmitRequest{}, err
	}
	req.InstanceID = strings.ToLower(req.InstanceID)
	if err := h.checkInstanceRef(ctx, p, req.InstanceID); err != nil {
		return solvekit.SubmitRequest{}, err
	}
	runIn, err := parseRunIn(req.RunIn)
	if err != nil {
		return solvekit.SubmitRequest{}, err
	}
	sreq := solvekit.SubmitRequest{
		ID: req.ID, JobType: req.JobType, InstanceID: req.InstanceID, Solver: req.Solver, Name: req.Name,
		Metadata: req.Metadata, Owner: p.ID, Queue: req.Queue, Tags: req.Tags, RequireTags: req.RequireTags,
		Timeout: time.Duration(req.Timeout * float64(time.Second)),
		JobKey:  users.NewJobKey(), RunIn: runIn, ResultURL: req.ResultURL,
	}
	if req.RunAt != nil {
		sreq.RunAt = *req.RunAt
	}
	if !nullish(req.Instance) {
		sreq.Instance = req.Instance
	}
	if !nullish(req.Config) {
		sreq.Config = req.Config
	}
	return sreq, nil
}

// createExecutions submits a batch (POST /executions:batch) through
// Service.SubmitMany: every item is checked first, and an invalid one
// fails the batch (422, its violations pointing into "/executions/<i>")
// with nothing stored.
func (h *handler) createExecutions(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req api.ExecutionBatch
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	reqs := make([]solvekit.SubmitRequest, len(req.Executions))
	invalid := &job.Error{Code: job.CodeInvalid}
	for i := range req.Executions {
		sreq, err := h.submitRequest(ctx, p, &req.Executions[i])
		if err != nil {
			je, ok := err.(*job.Error)
			if !ok || je.Code != job.CodeInvalid {
				return err
			}
			invalid.Violations = append(invalid.Violations, atItem(i, je)...)
		}
		reqs[i] = sreq
	}
	if len(invalid.Violations) > 0 {
		invalid.Message = fmt.Sprintf("%d invalid in a batch of %d (nothing stored)", len(invalid.Violations), len(reqs))
		return invalid
	}
	es, err := h.svc.SubmitMany(ctx, reqs)
	if je, ok := err.(*job.Error); ok && len(je.Violations) > 0 {
		for i := range je.Violations {
			je.Violations[i].Pointer = "/executions" + je.Violations[i].Pointer
		}
	}
	if err != nil {
		return err
	}
	out := &api.ExecutionBatchResult{Executions: make([]*api.Execution, len(es))}
	for i, e := range es {
		out.Executions[i] = execOut(e)
		out.Executions[i].JobKey = reqs[i].JobKey
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// atItem points je's violations (or its message) into item i of a batch.
func atItem(i int, je *job.Error) []job.Violation {
	at := "/executions/" + strconv.Itoa(i)
	if len(je.Violations) == 0 {
		return []job.Violation{{Pointer: at, Keyword: string(je.Code), Message: je.Message}}
	}
	out := make([]job.Violation, len(je.Violations))
	for k, v := range je.Violations {
		v.Pointer = at + v.Pointer
		out[k] = v
	}
	return out
}

// checkQueueChoice lets p name queue q for job type jt: a queue no worker
// serves is invalid for everyone (422); another queue than the job type's
// own is for admins and service callers, and for planners only when
// Options.PlannerQueues lists it (403).
func (h *handler) checkQueueChoice(p *Principal, jt, q string) error {
	if q == "" {
		return nil
	}
	if !slices.Contains(h.svc.QueueNames(), q) {
		return nil // Service.Submit refuses it (422) whoever asks
	}
	if p.Role == api.RoleAdmin || p.Role == api.RoleService || slices.Contains(h.opts.PlannerQueues, q) {
		return nil
	}
	if t, err := h.svc.Registry().Lookup(jt); err != nil || t.Def.QueueName() == q {
		return nil // an unknown job type is refused by Submit
	}
	return forbidden("role %q may not choose queue %q; leave queue out to use the job type's own", p.Role, q)
}

// passingState reports whether s is a documented state no record rests
// in: "lost" (a lost attempt is requeued, or ended, in the same step that
// notices it; its "lost" status event stays in the event stream) and
// "invalid" (refused before anything is stored). ?status= accepts them
// and they match nothing.
func passingState(s job.State) bool {
	return s == job.StateLost || s == job.StateInvalid
}

var statePattern = regexp.MustCompile(`^[a-z_]{1,32}$`)

func (h *handler) listExecutions(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var f solvekit.ListOptions
	var viol []job.Violation
	if v := q.Get("status"); v != "" {
		if st := job.State(v); !st.Valid() && !passingState(st) {
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
	f.ScheduleID = q.Get("schedule_id")
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
	if v := tagFilter(r, &f.Tag); v != nil {
		viol = append(viol, *v)
	}
	if len(viol) > 0 {
		return &job.Error{Code: job.CodeBadRequest, Message: "bad filter", Violations: viol}
	}
	if passingState(f.State) {
		writeJSON(w, http.StatusOK, api.ExecutionList{Executions: []*api.Execution{}})
		return nil
	}
	if !h.seesAll(p) {
		if f.Owner != "" && f.Owner != p.ID {
			writeJSON(w, http.StatusOK, api.ExecutionList{Executions: []*api.Execution{}})
			return nil
		}
		f.Owner = p.ID
	}
	f.Limit, f.Offset, f.PageToken = pg.limit, pg.offset, q.Get("page_token")
	l, err := h.svc.ListPage(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ExecutionList{Executions: mapSlice(l.Executions, execOut), TotalEntries: l.Total,
		NextPageToken: l.NextPageToken})
	return nil
}

func (h *handler) getExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	wait, err := parseWait(r, h.opts.MaxWait)
	if err != nil {
		return err
	}
	if wait <= 0 {
		e, err := h.execution(r, p, false)
		return answer(w, e, err, execOut)
	}
	// Long poll (the Go client's WaitExecution): answer when the
	// execution ends or wait passes, whichever comes first. The record
	// read for the access check is read with the execution's done
	// subscription already in place, so it also starts the wait.
	id, err := pathID(r, "execution")
	if err != nil {
		return err
	}
	e, waitErr, err := servicewait.GetWait(h.svc, r.Context(), id, wait, func(e *job.Execution) error {
		return h.visible(p, e, id, false)
	})
	if err != nil {
		return err
	}
	if waitErr != nil && !(errors.Is(waitErr, context.DeadlineExceeded) && r.Context().Err() == nil) {
		return waitErr
	}
	writeJSON(w, http.StatusOK, execOut(e))
	return nil
}

func (h *handler) patchExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	req, mask, e, err := patchOwned[api.ExecutionPatch](h, r, p, h.execution, executionMask...)
	if err != nil {
		return err
	}
	var u solvekit.ExecutionUpdate
	if mask.writes("name", req.Name != nil) {
		if req.Name == nil {
			req.Name = new(string)
		}
		u.Name = req.Name
	}
	if mask.writes("metadata", req.Metadata != nil) {
		md := map[string]string{}
		if req.Metadata != nil {
			md = *req.Metadata
		}
		u.Metadata = &md
	}
	if mask.writes("tags", req.Tags != nil) {
		tags := []string{}
		if req.Tags != nil {
			tags = *req.Tags
		}
		u.Tags = &tags
	}
	e, err = h.svc.Update(r.Context(), e.ID, u)
	return answer(w, e, err, execOut)
}

func (h *handler) deleteExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return deleteOwned(w, r, p, h.execution, func(e *job.Execution) string { return e.ID }, h.svc.Delete)
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
	writeJSON(w, http.StatusOK, api.CleanupResult{DeletedEntries: n})
	return nil
}

func (h *handler) getStatus(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	return answer(w, e, err, statusOut)
}

func (h *handler) putStatus(w http.ResponseWriter, r *http.Request, p *Principal) error {
	_, e, err := withBody[api.StatusUpdate](r, p, h.decodeBody, h.execution, true)
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
		b, err = h.svc.ExecutionInput(r.Context(), e.ID)
	case "incumbent":
		b, err = h.svc.Incumbent(r.Context(), e.ID)
	default:
		return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("unknown part %q", part),
			Violations: []job.Violation{{Pointer: "?part", Keyword: "enum", Message: "one of solution, instance, incumbent"}}}
	}
	return rawJSON(w, b, err)
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
	total, err := h.svc.LogCount(ctx, e.ID)
	if err != nil {
		return err
	}
	out := api.LogPage{Records: recs, TotalEntries: total}
	if out.Records == nil {
		out.Records = []job.LogRecord{}
	}
	if len(recs) == pg.limit {
		out.Next = recs[len(recs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var streamIDPattern = regexp.MustCompile(`^[0-9]{1,20}(-[0-9]{1,20})?$`)

func (h *handler) relaunch(w http.ResponseWriter, r *http.Request, p *Principal) error {
	req, e, err := withBody[api.RelaunchRequest](r, p, h.decodeOptionalBody, h.execution, true)
	if err != nil {
		return err
	}
	rr := solvekit.RelaunchRequest{}
	if !nullish(req.Config) {
		rr.Config = req.Config
	}
	e, err = h.svc.Relaunch(r.Context(), e.ID, rr)
	return answer(w, e, err, execOut)
}

func (h *handler) listFiles(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return listOfExecution(h, w, r, p, h.svc.Files, func(fs []job.File, n int64) api.FileList {
		return api.FileList{Files: fs, TotalEntries: n}
	})
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
	names := map[string]bool{}
	for _, pt := range parts {
		if pt.field != "file" {
			return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("unexpected form field %q; send parts named \"file\"", pt.field),
				Violations: []job.Violation{{Pointer: "/" + pt.field, Keyword: "additionalProperties", Message: "unknown field"}}}
		}
		if !job.FileNamePattern.MatchString(pt.filename) {
			return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("file name %q is not allowed", pt.filename),
				Violations: []job.Violation{{Pointer: "/file", Keyword: "pattern", Message: "file names use 1 to 128 letters, digits, '.', '_' or '-'"}}}
		}
		if names[pt.filename] {
			return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("file name %q is given twice", pt.filename),
				Violations: []job.Violation{{Pointer: "/file", Keyword: "uniqueItems", Message: "each part needs its own file name"}}}
		}
		names[pt.filename] = true
	}
	if len(parts) == 0 {
		return badRequest("no file parts; send parts named \"file\"")
	}
	// All parts in one atomic step: past MaxFileBytes nothing is kept.
	ups := make([]solvekit.FileUpload, len(parts))
	for i, pt := range parts {
		ups[i] = solvekit.FileUpload{Name: pt.filename, ContentType: pt.contentType, Data: pt.data}
	}
	files, err := h.svc.AddFiles(r.Context(), e.ID, ups, h.opts.MaxFileBytes)
	if err != nil {
		return err
	}
	// Location names the file, or the execution's files when several came.
	loc := h.basePath(r) + "/executions/" + e.ID + "/files"
	if len(files) == 1 {
		loc += "/" + url.PathEscape(files[0].Name)
	}
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusCreated, api.FileList{Files: files, TotalEntries: int64(len(files))})
	return nil
}

func (h *handler) downloadFile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	f, data, err := h.svc.File(r.Context(), e.ID, r.PathValue("name"))
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
