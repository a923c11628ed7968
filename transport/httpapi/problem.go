package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// codeStatus is the HTTP status of each job.Error code, one status a
// code; any other code is 500.
var codeStatus = map[job.Code]int{
	job.CodeInvalid:        http.StatusUnprocessableEntity,
	job.CodeBadRequest:     http.StatusBadRequest,
	job.CodeNotFound:       http.StatusNotFound,
	job.CodeConflict:       http.StatusConflict,
	job.CodeUnauthorized:   http.StatusUnauthorized,
	job.CodeForbidden:      http.StatusForbidden,
	job.CodeUnavailable:    http.StatusServiceUnavailable,
	job.CodeOutcomeUnknown: http.StatusGatewayTimeout,
	job.CodeTooLarge:       http.StatusRequestEntityTooLarge,
	job.CodeTooMany:        http.StatusTooManyRequests,
}

// StatusOf maps a job.Error code to its HTTP status.
func StatusOf(c job.Code) int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeOfStatus is the problem code of an httpError's status: the code
// whose status it is (codeStatus read backwards), or one of its own.
func codeOfStatus(status int) job.Code {
	switch status {
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	for c, s := range codeStatus {
		if s == status {
			return c
		}
	}
	return job.CodeInternal
}

// httpError is an error with an explicit status (405, 415 ...).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func statusErr(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return job.Errorf(job.CodeBadRequest, format, args...)
}

// retryAfterSeconds is the Retry-After header of 503 answers: when Redis
// is down or still loading (after the store's own short retries), how
// long a client should wait before it asks again.
const retryAfterSeconds = 2

// addOutageResponses documents an operation's answers to a Redis outage
// (responses is its OpenAPI responses object, problem the Problem schema):
// 503 with Retry-After on every operation but GET /health (whose 503 is
// its own body), and 504 where a create may have landed unseen (POST
// /executions).
func addOutageResponses(responses map[string]any, rt *route, problem any) {
	if rt.path == "/health" {
		return
	}
	body := map[string]any{"application/problem+json": map[string]any{"schema": problem}}
	responses["503"] = map[string]any{
		"description": "Unavailable (code unavailable): Redis cannot be reached or is still loading, or the job type is paused. Nothing was done; try again after Retry-After.",
		"headers": map[string]any{"Retry-After": map[string]any{"description": "seconds to wait before trying again",
			"schema": map[string]any{"type": "integer"}}},
		"content": body,
	}
	if rt.method == http.MethodPost && rt.path == "/executions" {
		responses["504"] = map[string]any{
			"description": "Outcome unknown (code outcome_unknown): the connection to Redis broke after the execution was sent; it may exist (the detail names its id). Get it before submitting again.",
			"content":     body,
		}
	}
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away (a dropped long poll, say): no one reads an
		// answer, and nothing went wrong here.
		h.log.Debug("solvekit/httpapi: client gone", "method", r.Method, "path", r.URL.Path)
		return
	}
	// Outage errors that the store did not type itself (users, keys, ...)
	// are 503s too, not 500s.
	err = store.Classify(err)
	p := &api.Problem{Instance: h.requestPath(r)}
	var je *job.Error
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		p.Status, p.Code = http.StatusRequestEntityTooLarge, string(job.CodeTooLarge)
		p.Detail = fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)
	case errors.As(err, &je):
		p.Status, p.Code, p.Detail, p.Errors = StatusOf(je.Code), string(je.Code), je.Message, je.Violations
	case errors.As(err, &he):
		p.Status, p.Code, p.Detail = he.status, string(codeOfStatus(he.status)), he.msg
	default:
		p.Status, p.Code = http.StatusInternalServerError, string(job.CodeInternal)
		p.Detail = "internal error"
		h.log.Error("solvekit/httpapi: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Status >= 500 && p.Status != http.StatusServiceUnavailable && p.Code != string(job.CodeInternal) {
		h.log.Error("solvekit/httpapi: server error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if je != nil && je.Err != nil && p.Status == http.StatusServiceUnavailable {
		h.log.Warn("solvekit/httpapi: unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	p.Title = http.StatusText(p.Status)
	p.Type = api.ProblemTypeBase + p.Code
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="solvekit"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// noContent answers 204 when err is nil and returns err otherwise, for
// the handler's error path.
func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// created answers 201 with v, created at location (under the base path).
func (h *handler) created(w http.ResponseWriter, r *http.Request, location string, v any) error {
	w.Header().Set("Location", h.basePath(r)+location)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// okJSON answers 200 with v when err is nil and returns err otherwise.
func okJSON(w http.ResponseWriter, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// answer answers 200 with out(v) when err is nil and returns err
// otherwise (out is not called then: v may be nil).
func answer[T, O any](w http.ResponseWriter, v T, err error, out func(T) O) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out(v))
	return nil
}

// same is answer's out for a record shown as it is.
func same[T any](v T) T { return v }

// mapSlice returns f of each element of in, never nil: an empty list
// answers [] rather than null.
func mapSlice[T, O any](in []T, f func(T) O) []O {
	out := make([]O, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

// rawJSON answers 200 with b, a stored JSON document, when err is nil and
// returns err otherwise.
func rawJSON(w http.ResponseWriter, b []byte, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encode"}`, 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// page is the limit/offset of a listing.
type page struct{ limit, offset int }

func parsePage(r *http.Request) (page, error) {
	p := page{limit: 25}
	q := r.URL.Query()
	var viol []job.Violation
	// intParam reads parameter name, when given, into *dst: an integer
	// from lo to hi, or a violation (keyword, msg).
	intParam := func(name string, lo, hi int, dst *int, keyword, msg string) {
		v := q.Get(name)
		if v == "" && !q.Has(name) {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			viol = append(viol, job.Violation{Pointer: "?" + name, Keyword: keyword, Message: msg})
			return
		}
		*dst = n
	}
	intParam("limit", 1, 1000, &p.limit, "range", "limit must be an integer from 1 to 1000")
	intParam("offset", 0, 1_000_000_000, &p.offset, "minimum", "offset must be a non-negative integer")
	if len(viol) > 0 {
		return p, &job.Error{Code: job.CodeBadRequest, Message: "bad paging parameters", Violations: viol}
	}
	return p, nil
}

// fieldMask is a PATCH's ?update_mask= as the set of fields it names; nil
// when the request has none.
type fieldMask map[string]bool

// writes reports whether a PATCH writes field name: the mask names it,
// or, without a mask, the body has it (present).
func (m fieldMask) writes(name string, present bool) bool { return (m == nil && present) || m[name] }

// decodePatch reads a PATCH request: its update_mask, checked against the
// allowed fields, and its JSON body into a new T.
func decodePatch[T any](h *handler, r *http.Request, allowed ...string) (*T, fieldMask, error) {
	mask, err := updateMask(r, allowed...)
	if err != nil {
		return nil, nil, err
	}
	req := new(T)
	if err := h.decodeBody(r, req); err != nil {
		return nil, nil, err
	}
	return req, mask, nil
}

// updateMask parses ?update_mask=a,b and checks it against allowed fields.
func updateMask(r *http.Request, allowed ...string) (fieldMask, error) {
	raw := r.URL.Query()["update_mask"]
	if len(raw) == 0 {
		return nil, nil
	}
	out := fieldMask{}
	for _, part := range raw {
		for _, f := range strings.Split(part, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			ok := false
			for _, a := range allowed {
				if a == f {
					ok = true
				}
			}
			if !ok {
				return nil, &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("update_mask field %q cannot be updated (allowed: %s)", f, strings.Join(allowed, ", ")),
					Violations: []job.Violation{{Pointer: "?update_mask", Keyword: "enum", Message: fmt.Sprintf("%q is not one of %s", f, strings.Join(allowed, ", "))}}}
			}
			out[f] = true
		}
	}
	return out, nil
}
