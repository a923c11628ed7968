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
	"unicode/utf8"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

type formPart struct {
	field, filename, contentType string
	data                         []byte
}

// describes reads the form fields that an instance and an instance set
// share (name, description, job_type) into the given strings, and reports
// whether p was one of them.
func (p formPart) describes(name, description, jobType *string) bool {
	to := map[string]*string{"name": name, "description": description, "job_type": jobType}[p.field]
	if to == nil {
		return false
	}
	*to = string(p.data)
	return true
}

// partErr is how a failed read of a multipart body is answered: a body
// over the limit as it is (413), anything else 400.
func partErr(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	return badRequest("malformed multipart body: %v", err)
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
			return nil, partErr(err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, partErr(err)
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
func instanceFromForm(parts []formPart) (*api.InstanceCreate, string, error) {
	req := &api.InstanceCreate{}
	format := ""
	seen := map[string]bool{}
	for _, p := range parts {
		if seen[p.field] {
			return nil, "", &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("form field %q given twice", p.field),
				Violations: []job.Violation{{Pointer: "/" + p.field, Keyword: "maxItems", Message: "given twice"}}}
		}
		seen[p.field] = true
		if p.field != "file" && p.field != "metadata" && !utf8.Valid(p.data) {
			return nil, "", &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("form field %q is not valid UTF-8", p.field),
				Violations: []job.Violation{{Pointer: "/" + p.field, Keyword: "format", Message: "not valid UTF-8"}}}
		}
		if p.describes(&req.Name, &req.Description, &req.JobType) {
			continue
		}
		switch p.field {
		case "metadata":
			if err := decodeJSONBytes(p.data, &req.Metadata); err != nil {
				return nil, "", &job.Error{Code: job.CodeBadRequest, Message: "metadata must be a JSON object of strings",
					Violations: []job.Violation{{Pointer: "/metadata", Keyword: "type", Message: "a JSON object of strings"}}}
			}
		case "file":
			ext := strings.ToLower(path.Ext(p.filename))
			// A .json file is stored as it is, and an MPS or LP model
			// becomes a JSON string (which would quietly turn bad bytes
			// into U+FFFD): either must be valid UTF-8.
			var uerr error
			switch ext {
			case ".json":
				uerr = checkUnicode(p.data, "the .json file")
			case ".mps", ".lp":
				if !utf8.Valid(p.data) {
					uerr = badRequest("the %s file is not valid UTF-8", ext)
				}
			}
			if uerr != nil {
				return nil, "", &job.Error{Code: job.CodeBadRequest, Message: uerr.Error(),
					Violations: []job.Violation{{Pointer: "/file", Keyword: "format", Message: "not valid UTF-8 text"}}}
			}
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
	var req *api.InstanceCreate
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
		req = &api.InstanceCreate{}
		if err := h.decodeBody(r, req); err != nil {
			return err
		}
		if nullish(req.Data) {
			return &job.Error{Code: job.CodeInvalid, Message: "data is required",
				Violations: []job.Violation{{Pointer: "/data", Keyword: "required", Message: "the instance data"}}}
		}
	}
	in := &job.Instance{Name: req.Name, Description: req.Description, JobType: req.JobType,
		Owner: p.ID, Format: format, Metadata: req.Metadata, Tags: req.Tags}
	out, err := h.svc.CreateInstance(r.Context(), in, req.Data)
	if err != nil {
		return prefixViolations(err, "/data", req.JobType)
	}
	return h.created(w, r, "/instances/"+out.ID, out)
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
func (h *handler) instance(r *http.Request, p *Principal, write bool) (*job.Instance, error) {
	return ownedByPath(h, r, p, write, "instance", h.svc.GetInstance, func(in *job.Instance) (string, string) { return in.ID, in.Owner })
}

func (h *handler) listInstances(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	owner := ""
	if !h.seesAll(p) {
		owner = p.ID
	}
	f := solvekit.InstanceFilter{Owner: owner, Limit: pg.limit, Offset: pg.offset, PageToken: r.URL.Query().Get("page_token")}
	if v := tagFilter(r, &f.Tag); v != nil {
		return &job.Error{Code: job.CodeBadRequest, Message: "bad filter", Violations: []job.Violation{*v}}
	}
	l, err := h.svc.ListInstancesPage(r.Context(), f)
	if err != nil {
		return err
	}
	ins := l.Instances
	if ins == nil {
		ins = []*job.Instance{}
	}
	writeJSON(w, http.StatusOK, api.InstanceList{Instances: ins, TotalEntries: l.Total, NextPageToken: l.NextPageToken})
	return nil
}

func (h *handler) instanceData(w http.ResponseWriter, r *http.Request, p *Principal) error {
	in, err := h.instance(r, p, false)
	if err != nil {
		return err
	}
	b, err := h.svc.InstanceData(r.Context(), in.ID)
	return rawJSON(w, b, err)
}

func (h *handler) patchInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	req, mask, in, err := patchOwned[api.InstancePatch](h, r, p, h.instance, instanceMask...)
	if err != nil {
		return err
	}
	if mask.writes("name", req.Name != nil) {
		in.Name = deref(req.Name)
	}
	if mask.writes("description", req.Description != nil) {
		in.Description = deref(req.Description)
	}
	if mask.writes("metadata", req.Metadata != nil) {
		in.Metadata = nil
		if req.Metadata != nil {
			in.Metadata = *req.Metadata
		}
	}
	if mask.writes("tags", req.Tags != nil) {
		in.Tags = nil
		if req.Tags != nil {
			in.Tags = *req.Tags
		}
	}
	in.UpdatedAt = nowUTC()
	return okJSON(w, in, h.svc.UpdateInstance(r.Context(), in))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *handler) deleteInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return deleteOwned(w, r, p, h.instance, func(in *job.Instance) string { return in.ID }, h.svc.DeleteInstance)
}

func (h *handler) checkInstance(w http.ResponseWriter, r *http.Request, p *Principal) error {
	req, in, err := withBody[api.CheckRequest](r, p, h.decodeOptionalBody, h.instance, false)
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
	data, err := h.svc.InstanceData(r.Context(), in.ID)
	if err != nil {
		return err
	}
	rep := api.CheckReport{JobType: name, Valid: true, Violations: []job.Violation{}, Checks: []job.CheckResult{}}
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
				// An error-level finding makes the instance invalid: it is
				// listed with the schema violations too (keyword: the
				// check's name), so violations says why valid is false.
				rep.Valid = false
				rep.Violations = append(rep.Violations, job.Violation{Pointer: cr.Pointer, Keyword: cr.Name, Message: cr.Message})
			}
			rep.Checks = append(rep.Checks, cr)
		}
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
