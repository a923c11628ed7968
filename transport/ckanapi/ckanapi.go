package ckanapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// Options configure the handler. The zero value serves every route, with
// admin routes refused until AdminKey or Admin is set.
type Options struct {
	// Name is the service name GET /status reports. Default "solvekit".
	Name string
	// Version is the version GET /status reports, a number as
	// ckan-service-provider reports it. Default 0.1.
	Version float64
	// AdminKey, when set, is an Authorization header value that
	// administers every job and the admin routes (ckan-service-provider's
	// SECRET_KEY). Compared in constant time. Default: none.
	AdminKey string
	// Admin, when set, reports whether a request comes from an
	// administrator by the host's own authentication (a session cookie, an
	// OIDC token). Default: nil (only AdminKey makes an admin).
	Admin func(*http.Request) bool
	// Owner is the owner recorded on every execution submitted through this
	// API (solvekit's REST API lists executions by owner). Default "".
	Owner string
	// KeepDays is how many days of finished jobs DELETE /job keeps when no
	// ?days= is given. Default 10.
	KeepDays int
	// MaxBody bounds a submit's body in bytes. Default 32 MiB.
	MaxBody int64
	// Logger receives unexpected errors. Default slog.Default().
	Logger *slog.Logger
}

// handler serves the API on one Service.
type handler struct {
	svc *solvekit.Service
	o   Options
	mux *http.ServeMux
}

// New returns the ckan-service-provider API on svc. Mount it where the
// clients expect the service, with http.StripPrefix when it is under a
// path:
//
//	mux.Handle("/ckan/", http.StripPrefix("/ckan", ckanapi.New(svc, ckanapi.Options{AdminKey: secret})))
func New(svc *solvekit.Service, o Options) http.Handler {
	if o.Name == "" {
		o.Name = "solvekit"
	}
	if o.Version == 0 {
		o.Version = 0.1
	}
	if o.KeepDays == 0 {
		o.KeepDays = 10
	}
	if o.MaxBody == 0 {
		o.MaxBody = 32 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &handler{svc: svc, o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /status", h.status)
	h.mux.HandleFunc("POST /job", h.submit)
	h.mux.HandleFunc("POST /job/{id}", h.submit)
	h.mux.HandleFunc("GET /job", h.list)
	h.mux.HandleFunc("DELETE /job", h.clear)
	h.mux.HandleFunc("GET /job/{id}", h.get)
	h.mux.HandleFunc("GET /job/{id}/data", h.data)
	h.mux.HandleFunc("GET /job/{id}/resubmit", h.resubmit)
	h.mux.HandleFunc("DELETE /job/{id}", h.delete)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"help": "This service speaks ckan-service-provider's API: GET /status, POST /job, GET /job/<job_id>."})
}

// status is GET /status: the service's name, version, job types and how
// many jobs are in each ckan status.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	counts, err := h.svc.Counts(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	stats := map[string]int64{"pending": 0, "running": 0, "complete": 0, "error": 0}
	for st, n := range counts {
		stats[statusOf(st)] += n
	}
	var types []string
	for _, t := range h.svc.Registry().List() {
		types = append(types, t.Name())
	}
	sort.Strings(types)
	writeJSON(w, http.StatusOK, map[string]any{"name": h.o.Name, "version": h.o.Version, "job_types": types, "stats": stats})
}

// submitBody is POST /job's body; any other key is refused, as
// ckan-service-provider refuses it.
type submitBody struct {
	JobType   string          `json:"job_type"`
	APIKey    string          `json:"api_key"`
	Data      json.RawMessage `json:"data"`
	Metadata  json.RawMessage `json:"metadata"`
	ResultURL string          `json:"result_url"`
}

// Metadata keys this API keeps beside the client's own.
const (
	// metaResultURL held the result_url before it was the execution's own
	// (Execution.ResultURL); still read for such records.
	metaResultURL = "ckan.result_url"
	// metaJSONKeys lists (comma-separated) the client's metadata keys whose
	// values were JSON other than a string, stored as their JSON text.
	metaJSONKeys = "ckan.json_keys"
)

// submit is POST /job and POST /job/{id}.
func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(w, r, h.o.MaxBody)
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil || keys == nil {
		writeError(w, http.StatusConflict, "Not recognised as json, make sure content type is application/json")
		return
	}
	var extra []string
	for k := range keys {
		switch k {
		case "job_type", "data", "metadata", "result_url", "api_key":
		default:
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		writeError(w, http.StatusConflict, "Too many arguments. Extra keys are "+strings.Join(extra, ", "))
		return
	}
	var b submitBody
	if err := json.Unmarshal(raw, &b); err != nil {
		writeError(w, http.StatusConflict, "Malformed json: "+err.Error())
		return
	}
	if b.ResultURL != "" && !strings.HasPrefix(b.ResultURL, "http") {
		writeError(w, http.StatusConflict, "result_url has to start with http")
		return
	}
	if b.JobType == "" {
		writeError(w, http.StatusConflict, "Please specify a job type")
		return
	}
	if _, err := h.svc.Registry().Lookup(b.JobType); err != nil {
		var names []string
		for _, t := range h.svc.Registry().List() {
			names = append(names, t.Name())
		}
		sort.Strings(names)
		writeError(w, http.StatusConflict, fmt.Sprintf("Job type %s not available. Available job types are %s", b.JobType, strings.Join(names, ", ")))
		return
	}
	if b.APIKey == "" {
		writeError(w, http.StatusConflict, "Please provide your API key.")
		return
	}
	meta, err := storedMetadata(b.Metadata)
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	data := b.Data
	if len(data) == 0 || string(data) == "null" {
		data = json.RawMessage(`{}`) // ckan-service-provider stores a missing data as {}
	}
	jobKey := newKey()
	req := solvekit.SubmitRequest{ID: r.PathValue("id"), JobType: b.JobType, Instance: data,
		Metadata: meta, Owner: h.o.Owner, JobKey: jobKey}
	if b.ResultURL != "" {
		// Called back in ckan's format with the api_key, as
		// ckan-service-provider does (callbackFormat).
		req.ResultURL, req.CallbackFormat, req.CallbackAuthorization = b.ResultURL, CallbackFormat, b.APIKey
	}
	e, err := h.svc.Submit(r.Context(), req)
	if err != nil {
		if job.ErrorCode(err) == job.CodeConflict {
			writeError(w, http.StatusConflict, fmt.Sprintf("job_id %s already exists", r.PathValue("id")))
			return
		}
		h.fail(w, err)
		return
	}
	h.writeJob(w, r, e, -1, jobKey)
}

// storedMetadata turns ckan's metadata object into solvekit's string map:
// strings stay as they are, other JSON values are kept as their text and
// named in metaJSONKeys so that the job dict gives them back typed.
func storedMetadata(raw json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("metadata has to be a json object")
	}
	var typed []string
	for k, v := range m {
		if strings.HasPrefix(k, "ckan.") {
			return nil, fmt.Errorf("metadata key %q is reserved", k)
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
			continue
		}
		out[k] = string(v)
		typed = append(typed, k)
	}
	if len(typed) > 0 {
		sort.Strings(typed)
		out[metaJSONKeys] = strings.Join(typed, ",")
	}
	return out, nil
}

// clientMetadata is storedMetadata's inverse.
func clientMetadata(m map[string]string) map[string]any {
	typed := map[string]bool{}
	for _, k := range strings.Split(m[metaJSONKeys], ",") {
		typed[k] = true
	}
	out := map[string]any{}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "ckan."):
		case typed[k]:
			out[k] = json.RawMessage(v)
		default:
			out[k] = v
		}
	}
	return out
}

// job loads the execution a request names and checks that the request may
// see it: 404 when unknown, 403 without its job key or an admin credential.
func (h *handler) job(w http.ResponseWriter, r *http.Request) (*job.Execution, bool) {
	id := r.PathValue("id")
	e, err := h.svc.Get(r.Context(), id)
	if errors.Is(err, job.ErrNotFound) {
		writeError(w, http.StatusNotFound, "job_id not found")
		return nil, false
	}
	if err != nil {
		h.fail(w, err)
		return nil, false
	}
	if h.admin(r) {
		return e, true
	}
	key := r.Header.Get("Authorization")
	if key != "" {
		ok, err := h.svc.CheckJobKey(r.Context(), id, key)
		if err != nil {
			h.fail(w, err)
			return nil, false
		}
		if ok {
			return e, true
		}
	}
	writeError(w, http.StatusForbidden, "not authorized")
	return nil, false
}

// adminOnly reports whether r is an admin's, answering 403 when it is not.
func (h *handler) adminOnly(w http.ResponseWriter, r *http.Request) bool {
	if h.admin(r) {
		return true
	}
	writeError(w, http.StatusForbidden, "not authorized")
	return false
}

// admin reports whether r carries the admin key or passes Options.Admin.
func (h *handler) admin(r *http.Request) bool {
	if k := h.o.AdminKey; k != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(k)) == 1 {
		return true
	}
	return h.o.Admin != nil && h.o.Admin(r)
}

// get is GET /job/{id}.
func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	e, ok := h.job(w, r)
	if !ok {
		return
	}
	limit := -1
	if s := r.URL.Query().Get("limit"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			limit = n
		}
	}
	h.writeJob(w, r, e, limit, "")
}

// writeJob answers with e's job dict (logLimit as jobDict takes it), and
// its job key when one is given (only a submit's answer shows it).
func (h *handler) writeJob(w http.ResponseWriter, r *http.Request, e *job.Execution, logLimit int, jobKey string) {
	d, err := jobDict(r.Context(), h.svc, e, logLimit)
	if err != nil {
		h.fail(w, err)
		return
	}
	if jobKey != "" {
		d["job_key"] = jobKey
	}
	writeJSON(w, http.StatusOK, d)
}

// data is GET /job/{id}/data: the result as it is, typed by the job's
// "mimetype" metadata. A result that is a JSON string is sent as the
// string's contents, as ckan-service-provider sends its stored text.
func (h *handler) data(w http.ResponseWriter, r *http.Request) {
	e, ok := h.job(w, r)
	if !ok {
		return
	}
	if e.Error != nil || isError(e.State) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": errorDict(e)})
		return
	}
	sol, err := h.svc.Solution(r.Context(), e.ID)
	if err != nil && !errors.Is(err, job.ErrNotFound) {
		h.fail(w, err)
		return
	}
	body := []byte(sol)
	var s string
	if json.Unmarshal(sol, &s) == nil {
		body = []byte(s)
	}
	if mt := e.Metadata["mimetype"]; mt != "" {
		w.Header().Set("Content-Type", mt)
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8") // Flask's default
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// resubmit is GET /job/{id}/resubmit: a new attempt of a finished job.
func (h *handler) resubmit(w http.ResponseWriter, r *http.Request) {
	e, ok := h.job(w, r)
	if !ok {
		return
	}
	e, err := h.svc.Relaunch(r.Context(), e.ID, solvekit.RelaunchRequest{})
	if err != nil {
		h.fail(w, err)
		return
	}
	h.writeJob(w, r, e, -1, "")
}

// delete is DELETE /job/{id}.
func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	e, ok := h.job(w, r)
	if !ok {
		return
	}
	h.succeed(w, h.svc.Delete(r.Context(), e.ID))
}

// clear is DELETE /job?days=N.
func (h *handler) clear(w http.ResponseWriter, r *http.Request) {
	if !h.adminOnly(w, r) {
		return
	}
	days := h.o.KeepDays
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusConflict, fmt.Sprintf("invalid days %q", s))
			return
		}
		days = n
	}
	_, err := h.svc.DeleteFinishedBefore(r.Context(), time.Now().AddDate(0, 0, -days))
	h.succeed(w, err)
}

// succeed answers {"success": true}, or the error when err is not nil.
func (h *handler) succeed(w http.ResponseWriter, err error) {
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// list is GET /job: the URLs of the jobs that match, newest first.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	if !h.adminOnly(w, r) {
		return
	}
	q := r.URL.Query()
	limit, offset := 100, 0 // ckan-service-provider's defaults
	for _, p := range []struct {
		name string
		to   *int
	}{{"_limit", &limit}, {"_offset", &offset}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				writeError(w, http.StatusConflict, fmt.Sprintf("invalid %s %q", p.name, s))
				return
			}
			*p.to = n
		}
	}
	if limit+offset > 10000 {
		writeError(w, http.StatusConflict, "_limit plus _offset is at most 10000")
		return
	}
	meta := map[string]string{}
	for k, vs := range q {
		if !strings.HasPrefix(k, "_") && len(vs) > 0 {
			meta[k] = vs[0]
		}
	}
	states, err := statesOf(q.Get("_status"))
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	es, err := h.listStates(r.Context(), states, meta, limit, offset)
	if err != nil {
		h.fail(w, err)
		return
	}
	base := strings.TrimSuffix(strings.SplitN(r.RequestURI, "?", 2)[0], "/")
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, base+"/"+e.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": out})
}

// listStates lists the executions in any of states (all when nil), newest
// first: the newest offset+limit of each state, read page by page (a
// metadata filter may be served by a bounded scan whose pages come short),
// merged by creation time.
func (h *handler) listStates(ctx context.Context, states []job.State, meta map[string]string, limit, offset int) ([]*job.Execution, error) {
	if len(states) == 0 {
		states = []job.State{""}
	}
	want := offset + limit
	var all []*job.Execution
	for _, st := range states {
		o := solvekit.ListOptions{State: st, Metadata: meta, Limit: min(want, 1000)}
		for n := 0; n < want; {
			p, err := h.svc.ListPage(ctx, o)
			if err != nil {
				return nil, err
			}
			all = append(all, p.Executions...)
			n += len(p.Executions)
			if p.NextPageToken == "" {
				break
			}
			o.PageToken = p.NextPageToken
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.After(all[j].CreatedAt) })
	if offset >= len(all) {
		return nil, nil
	}
	return all[offset:min(len(all), want)], nil
}

// statusOf is an execution state's ckan status.
func statusOf(st job.State) string {
	switch st {
	case job.StateQueued, job.StateScheduled:
		return "pending"
	case job.StateRunning, job.StateLost:
		return "running"
	case job.StateSucceeded:
		return "complete"
	}
	return "error"
}

func isError(st job.State) bool { return statusOf(st) == "error" }

// statesOf is the states a ckan status filter keeps.
func statesOf(status string) ([]job.State, error) {
	if status == "" {
		return nil, nil
	}
	var out []job.State
	for _, st := range job.States {
		if statusOf(st) == status {
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("unknown _status %q: one of pending, running, complete, error", status)
	}
	return out, nil
}

// jobDict is execution e as ckan-service-provider's job dict, with its
// newest logLimit log records (all when negative).
func jobDict(ctx context.Context, svc *solvekit.Service, e *job.Execution, logLimit int) (map[string]any, error) {
	input, err := svc.ExecutionInput(ctx, e.ID)
	if err != nil && !errors.Is(err, job.ErrNotFound) {
		return nil, err
	}
	var data json.RawMessage
	if e.State == job.StateSucceeded {
		if data, err = svc.Solution(ctx, e.ID); err != nil && !errors.Is(err, job.ErrNotFound) {
			return nil, err
		}
	}
	logs, err := logsOf(ctx, svc, e, logLimit)
	if err != nil {
		return nil, err
	}
	d := map[string]any{
		"job_id": e.ID, "job_type": e.JobType, "status": statusOf(e.State),
		"sent_data": jsonOrNull(input), "data": jsonOrNull(data), "error": nil,
		"metadata": clientMetadata(e.Metadata), "result_url": nil, "aps_job_id": nil,
		"requested_timestamp": isoTime(&e.CreatedAt), "finished_timestamp": isoTime(e.FinishedAt),
		"logs": logs,
	}
	if u := e.ResultURL; u != "" {
		d["result_url"] = u
	} else if u := e.Metadata[metaResultURL]; u != "" {
		d["result_url"] = u
	}
	if isError(e.State) {
		d["error"] = errorDict(e)
	}
	return d, nil
}

// errorDict is ckan's {"message": ...} error of a failed execution, with
// job.Fail's details beside the message.
func errorDict(e *job.Execution) map[string]any {
	out := map[string]any{"message": "the job " + string(e.State)}
	if e.Error != nil {
		out["message"] = e.Error.Message
		if e.Error.Details != nil {
			out["details"] = e.Error.Details
		}
		if e.Error.Kind != "" {
			out["kind"] = e.Error.Kind
		}
	}
	return out
}

// logs returns e's log records in ckan's shape, oldest first; with limit
// >= 0 only the newest limit of them.
func logsOf(ctx context.Context, svc *solvekit.Service, e *job.Execution, limit int) ([]map[string]any, error) {
	var recs []job.LogRecord
	after := ""
	for {
		page, err := svc.Logs(ctx, e.ID, after, 1000)
		if err != nil {
			if errors.Is(err, job.ErrNotFound) {
				break
			}
			return nil, err
		}
		recs = append(recs, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	if limit >= 0 && len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	out := make([]map[string]any, 0, len(recs))
	for _, l := range recs {
		out = append(out, map[string]any{"timestamp": isoTime(&l.Time), "message": l.Message,
			"level": strings.ToUpper(l.Level), "module": e.JobType, "funcName": nil, "lineno": nil})
	}
	return out, nil
}

// isoTime formats t as Python's datetime.isoformat() of a naive UTC time,
// as ckan-service-provider writes its timestamps; nil is JSON null.
func isoTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

func jsonOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// newKey makes a job key: 128 random bits, as text.
func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fail answers an error from the Service in ckan's shape: 404 for an
// unknown job, 409 with the message for the caller's errors, 503 when
// Redis is out of reach, 500 (logged) for the rest.
func (h *handler) fail(w http.ResponseWriter, err error) {
	switch job.ErrorCode(err) {
	case job.CodeNotFound:
		writeError(w, http.StatusNotFound, "job_id not found")
	case job.CodeInvalid, job.CodeConflict, job.CodeBadRequest:
		writeError(w, http.StatusConflict, messageOf(err))
	case job.CodeUnavailable:
		writeError(w, http.StatusServiceUnavailable, messageOf(err))
	default:
		h.o.Logger.Error("ckanapi: request failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func messageOf(err error) string {
	var je *job.Error
	if errors.As(err, &je) && je.Message != "" {
		return je.Message
	}
	return err.Error()
}

// readBody reads at most max bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fmt.Errorf("body larger than %d bytes", max)
	}
	return b, err
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
