package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
)

// InstanceCreate is the JSON body of POST /instances. The same fields may
// come as multipart/form-data with the data in a part named "file" (.json,
// .mps or .lp; MPS and LP models are stored as {"format":"mps"|"lp",
// "model":"<text>"}, the shape solver/external reads) and metadata as a
// JSON object text.
type InstanceCreate struct {
	Name        string `json:"name,omitempty" validate:"max=256"`
	Description string `json:"description,omitempty" validate:"max=4096"`
	// JobType, when given, validates Data against its instance schema.
	JobType  string            `json:"job_type,omitempty" validate:"max=128"`
	Data     json.RawMessage   `json:"data" validate:"required"`
	Metadata map[string]string `json:"metadata,omitempty" validate:"max=64,dive,keys,min=1,max=128,endkeys,max=1024"`
}

// Instance is a stored instance's record.
type Instance = store.Instance

// InstanceList is a page of instances.
type InstanceList struct {
	Instances    []*store.Instance `json:"instances"`
	TotalEntries int64             `json:"total_entries"`
}

// InstancePatch is the body of PATCH /instances/{id}; the data itself is
// immutable so that executions stay reproducible.
type InstancePatch struct {
	Name        *string            `json:"name,omitempty" validate:"omitempty,max=256"`
	Description *string            `json:"description,omitempty" validate:"omitempty,max=4096"`
	Metadata    *map[string]string `json:"metadata,omitempty" validate:"omitempty,max=64,dive,keys,min=1,max=128,endkeys,max=1024"`
}

// CheckRequest is the optional body of POST /instances/{id}/checks.
type CheckRequest struct {
	// JobType checks against another job type than the instance's own.
	JobType string `json:"job_type,omitempty" validate:"max=128"`
}

// CheckReport is the answer of POST /instances/{id}/checks.
type CheckReport struct {
	JobType string `json:"job_type"`
	// Valid is false when the schema or an error-level check fails.
	Valid      bool              `json:"valid"`
	Violations []job.Violation   `json:"violations"`
	Checks     []job.CheckResult `json:"checks"`
}

type formPart struct {
	field, filename, contentType string
	data                         []byte
}

// readMultipart reads every part of a multipart body (within the body
// limit set by wrap).
func readMultipart(r *http.Request, boundary string) ([]formPart, error) {
	mr := multipart.NewReader(r.Body, boundary)
	var out []formPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, badRequest("malformed multipart body: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, badRequest("malformed multipart body: %v", err)
		}
		ct := "application/octet-stream"
		if mt, params, err := mime.ParseMediaType(p.Header.Get("Content-Type")); err == nil {
			ct = mime.FormatMediaType(mt, params)
		}
		if len(out) >= 64 {
			return nil, badRequest("too many parts (at most 64)")
		}
		out = append(out, formPart{field: p.FormName(), filename: path.Base(p.FileName()), contentType: ct, data: data})
	}
}

// instanceFromForm turns a multipart upload into an InstanceCreate.
func instanceFromForm(parts []formPart) (*InstanceCreate, string, error) {
	req := &InstanceCreate{}
	format := ""
	seen := map[string]bool{}
	for _, p := range parts {
		if seen[p.field] {
			return nil, "", &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("form field %q given twice", p.field),
				Violations: []job.Violation{{Pointer: "/" + p.field, Keyword: "maxItems", Message: "given twice"}}}
		}
		seen[p.field] = true
		switch p.field {
		case "name":
			req.Name = string(p.data)
		case "description":
			req.Description = string(p.data)
		case "job_type":
			req.JobType = string(p.data)
		case "metadata":
			if err := decodeJSONBytes(p.data, &req.Metadata); err != nil {
				return nil, "", &job.Error{Code: job.CodeBadRequest, Message: "metadata must be a JSON object of strings",
					Violations: []job.Violation{{Pointer: "/metadata", Keyword: "type", Message: "a JSON object of strings"}}}
			}
		case "file":
			ext := strings.ToLower(path.Ext(p.filename))
			switch ext {
			case ".json":
				if !json.Valid(p.data) {
					return nil, "", &job.Error{Code: job.CodeBadRequest, Message: "the .json file is not valid JSON",
						Violations: []job.Violation{{Pointer: "/file", Keyword: "format", Message: "not valid JSON"}}}
				}
				req.Data, format = p.data, "json"
			case ".mps", ".lp":
				format = ext[1:]
				b, _ := json.Marshal(map[string]string{"format": format, "model": string(p.data)})
				req.Data = b
			default:
				return nil, "", &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("unsupported file type %q: upload .json, .mps or .lp", ext),
					Violations: []job.Violation{{Pointer: "/file", Keyword: "enum", Message: "a .json, .mps or .lp file"}}}
			}
			if req.Name == "" {
				req.Name = p.filename
			}
		default:
			return nil, "", &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("unknown form field %q", p.field),
				Violations: []job.Violation{{Pointer: "/" + p.field, Keyword: "additionalProperties", Message: "unknown field"}}}
		}
	}
	if req.Data == nil {
		return nil, "", &job.Error{Code: job.CodeInvalid, Message: "a file part is required",
			Violations: []job.Violation{{Pointer: "/file", Keyword: "required", Message: "upload the instance as a part named \"file\""}}}
	}
	return req, format, job.Validate(req)
}

func (h *handler) createInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req *InstanceCreate
	format := "json"
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		if params["boundary"] == "" {
			return badRequest("multipart body without boundary")
		}
		parts, err := readMultipart(r, params["boundary"])
		if err != nil {
			return err
		}
		if req, format, err = instanceFromForm(parts); err != nil {
			return err
		}
	} else {
		req = &InstanceCreate{}
		if err := h.decodeBody(r, req); err != nil {
			return err
		}
		if nullish(req.Data) {
			return &job.Error{Code: job.CodeInvalid, Message: "data is required",
				Violations: []job.Violation{{Pointer: "/data", Keyword: "required", Message: "the instance data"}}}
		}
	}
	in := &store.Instance{Name: req.Name, Description: req.Description, JobType: req.JobType,
		Owner: p.ID, Format: format, Metadata: req.Metadata}
	out, err := h.svc.CreateInstance(r.Context(), in, req.Data)
	if err != nil {
		return prefixViolations(err, "/data", req.JobType)
	}
	w.Header().Set("Location", h.opts.Prefix+"/instances/"+out.ID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// prefixViolations puts instance schema violations under /data and turns
// an unknown job type into a 422 on /job_type.
func prefixViolations(err error, prefix, jobType string) error {
	var je *job.Error
	if !errors.As(err, &je) {
		return err
	}
	if je.Code == job.CodeNotFound && jobType != "" {
		return &job.Error{Code: job.CodeInvalid, Message: je.Message,
			Violations: []job.Violation{{Pointer: "/job_type", Keyword: "exists", Message: "no such job type"}}}
	}
	out := *je
	out.Violations = nil
	for _, v := range je.Violations {
		v.Pointer = prefix + v.Pointer
		out.Violations = append(out.Violations, v)
	}
	return &out
}

// instance loads the {id} instance with the same rules as execution.
func (h *handler) instance(r *http.Request, p *Principal, write bool) (*store.Instance, error) {
	id, err := pathID(r, "instance")
	if err != nil {
		return nil, err
	}
	in, err := h.st.GetInstance(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !h.canSee(p, in.Owner) {
		return nil, notFoundErr("instance %q not found", id)
	}
	if write && !h.canChange(p, in.Owner) {
		return nil, forbidden("instance %q belongs to another user", id)
	}
	return in, nil
}

func (h *handler) listInstances(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	owner := ""
	if p.Role == RolePlanner && !h.opts.Sharing {
		owner = p.ID
	}
	ins, total, err := h.st.ListInstances(r.Context(), owner, store.Page{Limit: pg.limit, Offset: pg.offset})
	if err != nil {
		return err
	}
	if ins == nil {
		ins = []*store.Instance{}
	}
	writeJSON(w, http.StatusOK, InstanceList{Instances: ins, TotalEntries: total})
	return nil
}

func (h *handler) getInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	in, err := h.instance(r, p, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

func (h *handler) instanceData(w http.ResponseWriter, r *http.Request, p *Principal) error {
	in, err := h.instance(r, p, false)
	if err != nil {
		return err
	}
	b, err := h.st.InstanceData(r.Context(), in.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func (h *handler) patchInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	mask, err := updateMask(r, "name", "description", "metadata")
	if err != nil {
		return err
	}
	var req InstancePatch
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	in, err := h.instance(r, p, true)
	if err != nil {
		return err
	}
	use := func(name string, present bool) bool { return (mask == nil && present) || mask[name] }
	if use("name", req.Name != nil) {
		in.Name = deref(req.Name)
	}
	if use("description", req.Description != nil) {
		in.Description = deref(req.Description)
	}
	if use("metadata", req.Metadata != nil) {
		in.Metadata = nil
		if req.Metadata != nil {
			in.Metadata = *req.Metadata
		}
	}
	in.UpdatedAt = nowUTC()
	if err := h.st.UpdateInstance(r.Context(), in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *handler) deleteInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	in, err := h.instance(r, p, true)
	if err != nil {
		return err
	}
	if err := h.st.DeleteInstance(r.Context(), in.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) checkInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req CheckRequest
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := decodeJSONBytes(body, &req); err != nil {
			return err
		}
	}
	in, err := h.instance(r, p, false)
	if err != nil {
		return err
	}
	name := req.JobType
	if name == "" {
		name = in.JobType
	}
	if name == "" {
		return &job.Error{Code: job.CodeInvalid, Message: "the instance has no job type; name one in job_type",
			Violations: []job.Violation{{Pointer: "/job_type", Keyword: "required", Message: "which job type to check against"}}}
	}
	t, err := h.svc.Registry().Lookup(name)
	if err != nil {
		return prefixViolations(err, "", name)
	}
	data, err := h.st.InstanceData(r.Context(), in.ID)
	if err != nil {
		return err
	}
	rep := CheckReport{JobType: name, Valid: true, Violations: []job.Violation{}, Checks: []job.CheckResult{}}
	if err := t.ValidateInstance(data); err != nil {
		var je *job.Error
		if !errors.As(err, &je) {
			return err
		}
		rep.Valid = false
		rep.Violations = append(rep.Violations, je.Violations...)
		if len(je.Violations) == 0 {
			rep.Violations = append(rep.Violations, job.Violation{Message: je.Message})
		}
	}
	if c, ok := t.Def.Extra.(job.InstanceChecker); ok && rep.Valid {
		res, err := c.CheckInstance(r.Context(), data)
		if err != nil {
			return err
		}
		for _, cr := range res {
			if !cr.IsWarning {
				rep.Valid = false
			}
			rep.Checks = append(rep.Checks, cr)
		}
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
