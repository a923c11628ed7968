package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

type dashJobTypesData struct {
	JobTypes []*api.JobType
}

func (h *handler) dashJobTypes(w http.ResponseWriter, r *http.Request, p *Principal) error {
	d := &dashJobTypesData{}
	for _, t := range h.svc.Registry().List() {
		d.JobTypes = append(d.JobTypes, h.jobTypeOut(t))
	}
	h.render(w, r, p, http.StatusOK, "jobtypes", "Job types", d)
	return nil
}

type dashJobTypeData struct {
	T                                *api.JobType
	InstanceSchema                   string
	ConfigSchema                     string
	SolutionSchema                   string
	SubmitAction                     string
	Instance, Config, Name           string
	Error                            string
	Violations                       []job.Violation
	InstancePlaceholder, ExecListURL string
}

func schemaText(b json.RawMessage) string {
	if len(b) == 0 || string(b) == "null" {
		return ""
	}
	s, _ := prettyJSON(b)
	return s
}

// dashJobType shows a job type's schemas and, to those who may submit, a
// form that submits an execution (JSON pasted into it or a file uploaded).
func (h *handler) dashJobType(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return h.renderJobType(w, r, p, http.StatusOK, nil)
}

func (h *handler) renderJobType(w http.ResponseWriter, r *http.Request, p *Principal, status int, form *dashJobTypeData) error {
	t, err := h.svc.Registry().Lookup(r.PathValue("name"))
	if err != nil {
		return err
	}
	dt := h.jobTypeDetail(t)
	d := form
	if d == nil {
		d = &dashJobTypeData{Instance: "{}"}
	}
	d.T = &dt.JobType
	d.InstanceSchema, d.ConfigSchema, d.SolutionSchema = schemaText(dt.InstanceSchema), schemaText(dt.ConfigSchema), schemaText(dt.SolutionSchema)
	base := h.uiBase(r)
	d.SubmitAction = base + "/jobTypes/" + t.Name() + "/submit"
	d.ExecListURL = base + "/executions?job_type=" + t.Name()
	h.render(w, r, p, status, "jobtype", "Job type "+t.Name(), d)
	return nil
}

// dashSubmit submits an execution from the job type page's form, with the
// checks of POST /executions (queue and instance rules, schemas), and
// answers 303 to the new execution's page, or the form again with the
// violations.
func (h *handler) dashSubmit(w http.ResponseWriter, r *http.Request, p *Principal) error {
	name := r.PathValue("name")
	if _, err := h.svc.Registry().Lookup(name); err != nil {
		return err
	}
	form := &dashJobTypeData{Instance: r.PostFormValue("instance"), Config: r.PostFormValue("config"), Name: r.PostFormValue("name")}
	req := api.ExecutionCreate{JobType: name, Name: strings.TrimSpace(form.Name)}
	var viol []job.Violation
	fromFile := false
	// An uploaded file, when one was chosen, is the instance (the
	// textarea is then ignored); the body's bound (MaxBodyBytes) holds.
	if f, fh, err := r.FormFile("instance_file"); err == nil {
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		if fh.Size > 0 {
			fromFile = true
			form.Instance = string(b)
			if len(b) > dashMaxShownJSON {
				form.Instance = ""
			}
			if !json.Valid(b) {
				viol = append(viol, job.Violation{Pointer: "/instance", Keyword: "format", Message: "the uploaded file " + strconv.Quote(fh.Filename) + " is not JSON"})
			} else {
				req.Instance = json.RawMessage(b)
			}
		}
	} else if !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart) {
		return err
	}
	switch {
	case fromFile: // its verdict is in viol already
	case strings.TrimSpace(form.Instance) == "" || !json.Valid([]byte(form.Instance)):
		viol = append(viol, job.Violation{Pointer: "/instance", Keyword: "format", Message: "the instance must be JSON (pasted or uploaded)"})
	default:
		req.Instance = json.RawMessage(form.Instance)
	}
	if c := strings.TrimSpace(form.Config); c != "" {
		if !json.Valid([]byte(c)) {
			viol = append(viol, job.Violation{Pointer: "/config", Keyword: "format", Message: "the config must be JSON (or left empty)"})
		} else {
			req.Config = json.RawMessage(c)
		}
	}
	if len(viol) > 0 {
		form.Error, form.Violations = "The form is not valid JSON.", viol
		return h.renderJobType(w, r, p, http.StatusBadRequest, form)
	}
	ctx := r.Context()
	sreq, err := h.submitRequest(ctx, p, &req)
	if err == nil {
		var e *job.Execution
		if e, err = h.svc.Submit(ctx, sreq); err == nil {
			http.Redirect(w, r, h.uiBase(r)+"/executions/"+e.ID, http.StatusSeeOther)
			return nil
		}
	}
	je, ok := errors.AsType[*job.Error](err)
	if !ok || StatusOf(je.Code) >= 500 {
		return err
	}
	form.Error, form.Violations = je.Message, je.Violations
	return h.renderJobType(w, r, p, StatusOf(je.Code), form)
}

type dashQueuesData struct {
	Queues []*api.Queue
}

// dashQueues lists the queues to the roles that may read them in the API
// (admin, service).
func (h *handler) dashQueues(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if !accOps.allows(p.Role) {
		return forbidden("role %q may not see the queues", p.Role)
	}
	qs, err := h.svc.Queues(r.Context())
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "queues", "Queues", &dashQueuesData{Queues: mapSlice(qs, queueOut)})
	return nil
}
