package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/solvekit/solvekit/job"
)

// ProblemTypeBase starts the type URI of every problem; the code follows
// the '#'.
const ProblemTypeBase = "https://github.com/solvekit/solvekit/blob/main/docs/rest.md#problem-"

// Problem is an RFC 9457 problem details body (application/problem+json).
type Problem struct {
	// Type identifies the kind of problem (a URI ending in its code).
	Type string `json:"type"`
	// Title is a short summary of the kind (the HTTP status text).
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// Code is solvekit's error code (invalid, not_found, ...).
	Code string `json:"code"`
	// Errors lists validation failures, each located by a JSON pointer
	// into the request body (or, for query parameters, "?name").
	Errors []job.Violation `json:"errors,omitempty"`
}

// Error makes a Problem an error (for the client package).
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for _, v := range p.Errors {
		fmt.Fprintf(&b, "; %s: %s", v.Pointer, v.Message)
	}
	return b.String()
}

// StatusOf maps a job.Error code to its HTTP status.
func StatusOf(c job.Code) int {
	switch c {
	case job.CodeInvalid:
		return http.StatusUnprocessableEntity
	case job.CodeBadRequest:
		return http.StatusBadRequest
	case job.CodeNotFound:
		return http.StatusNotFound
	case job.CodeConflict:
		return http.StatusConflict
	case job.CodeUnauthorized:
		return http.StatusUnauthorized
	case job.CodeForbidden:
		return http.StatusForbidden
	case job.CodeUnavailable:
		return http.StatusServiceUnavailable
	case job.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case job.CodeTooMany:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func codeOfStatus(status int) job.Code {
	switch status {
	case 405:
		return "method_not_allowed"
	case 415:
		return "unsupported_media_type"
	}
	for _, c := range []job.Code{job.CodeInvalid, job.CodeBadRequest, job.CodeNotFound, job.CodeConflict,
		job.CodeUnauthorized, job.CodeForbidden, job.CodeUnavailable, job.CodeTooLarge, job.CodeTooMany} {
		if StatusOf(c) == status {
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

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := &Problem{Instance: r.URL.Path}
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
	p.Title = http.StatusText(p.Status)
	p.Type = ProblemTypeBase + p.Code
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="solvekit"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
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

// decodeBody reads a JSON request body strictly into v: a JSON object,
// no unknown fields, no trailing data; then validator/v10 tags are checked
// (violations → 422 with pointers).
func (h *handler) decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		mt = strings.TrimSpace(strings.ToLower(mt))
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return statusErr(http.StatusUnsupportedMediaType, "send application/json, not %s", mt)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	return decodeJSONBytes(body, v)
}

func decodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("unexpected data after the JSON object")
	}
	return job.Validate(v)
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		ptr := "/" + strings.ReplaceAll(te.Field, ".", "/")
		if te.Field == "" {
			ptr = ""
		}
		return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("wrong type at %s: got %s, want %s", orRoot(ptr), te.Value, jsonKind(te.Type.Kind().String())),
			Violations: []job.Violation{{Pointer: ptr, Keyword: "type", Message: fmt.Sprintf("got %s, want %s", te.Value, jsonKind(te.Type.Kind().String()))}}}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed JSON: unexpected end of input")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("unknown field %q", f),
			Violations: []job.Violation{{Pointer: "/" + f, Keyword: "additionalProperties", Message: "unknown field"}}}
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "integer"
	case strings.HasPrefix(k, "float"):
		return "number"
	case k == "map", k == "struct":
		return "object"
	case k == "slice", k == "array":
		return "array"
	}
	return k
}

// page is the limit/offset of a listing.
type page struct{ limit, offset int }

func parsePage(r *http.Request) (page, error) {
	p := page{limit: 25}
	q := r.URL.Query()
	var viol []job.Violation
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			viol = append(viol, job.Violation{Pointer: "?limit", Keyword: "range", Message: "limit must be an integer from 1 to 1000"})
		} else {
			p.limit = n
		}
	}
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000_000 {
			viol = append(viol, job.Violation{Pointer: "?offset", Keyword: "minimum", Message: "offset must be a non-negative integer"})
		} else {
			p.offset = n
		}
	}
	if len(viol) > 0 {
		return p, &job.Error{Code: job.CodeBadRequest, Message: "bad paging parameters", Violations: viol}
	}
	return p, nil
}

// updateMask parses ?update_mask=a,b and checks it against allowed fields.
func updateMask(r *http.Request, allowed ...string) (map[string]bool, error) {
	raw := r.URL.Query()["update_mask"]
	if len(raw) == 0 {
		return nil, nil
	}
	out := map[string]bool{}
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
