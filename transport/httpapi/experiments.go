package httpapi

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// Instance sets and experiments (docs/experiments.md): the routes of
// Service.CreateInstanceSet, ImportInstanceSet, CreateExperiment and
// their kin, with the ownership rules of executions.

// owned loads the {id} document with get and checks that p may see it
// (and change it when write).
func owned[T any](h *handler, r *http.Request, p *Principal, what string, write bool, get func(*http.Request) (T, error), owner func(T) string) (T, error) {
	v, err := get(r)
	if err != nil {
		return v, err
	}
	if err := h.checkAccess(p, what, r.PathValue("id"), owner(v), write); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

func (h *handler) instanceSet(r *http.Request, p *Principal, write bool) (*solvekit.InstanceSet, error) {
	return owned(h, r, p, "instance set", write, func(r *http.Request) (*solvekit.InstanceSet, error) {
		return byPath(r, "instance set", h.svc.InstanceSet)
	}, func(s *solvekit.InstanceSet) string { return s.Owner })
}

func (h *handler) experiment(r *http.Request, p *Principal, write bool) (*solvekit.Experiment, error) {
	return owned(h, r, p, "experiment", write, func(r *http.Request) (*solvekit.Experiment, error) {
		return byPath(r, "experiment", h.svc.Experiment)
	}, func(e *solvekit.Experiment) string { return e.Owner })
}

func (h *handler) createInstanceSet(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req api.InstanceSetCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	for _, id := range req.InstanceIDs {
		if err := h.checkInstanceRef(r.Context(), p, strings.ToLower(id)); err != nil {
			return err
		}
	}
	set, err := h.svc.CreateInstanceSet(r.Context(), solvekit.InstanceSetRequest{Name: req.Name, Description: req.Description,
		JobType: req.JobType, Tags: req.Tags, InstanceIDs: req.InstanceIDs, Owner: p.ID})
	if err != nil {
		return err
	}
	return h.created(w, r, "/instanceSets/"+set.ID, set)
}

// importInstanceSet reads a multipart body of files (or one archive of
// them) and creates their instances and a set of them.
func (h *handler) importInstanceSet(w http.ResponseWriter, r *http.Request, p *Principal) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return badRequest("send multipart/form-data: parts named \"file\", or one \"archive\" (.zip, .tar, .tar.gz)")
	}
	parts, err := readMultipart(r, params["boundary"])
	if err != nil {
		return err
	}
	req := solvekit.InstanceSetRequest{Owner: p.ID}
	var files []solvekit.InstanceFile
	for _, part := range parts {
		if part.describes(&req.Name, &req.Description, &req.JobType) {
			continue
		}
		switch part.field {
		case "tags":
			for t := range strings.SplitSeq(string(part.data), ",") {
				if t = strings.TrimSpace(t); t != "" {
					req.Tags = append(req.Tags, t)
				}
			}
		case "file":
			files = append(files, solvekit.InstanceFile{Name: part.filename, Data: part.data})
		case "archive":
			fs, err := archiveFiles(part.filename, part.data)
			if err != nil {
				return err
			}
			files = append(files, fs...)
		default:
			return badRequest("unknown form field %q", part.field)
		}
	}
	if len(files) == 0 {
		return invalidField("/files", "required", "upload instance files as parts named \"file\" or an \"archive\"")
	}
	set, err := h.svc.ImportInstanceSet(r.Context(), req, files)
	if err != nil {
		return err
	}
	return h.created(w, r, "/instanceSets/"+set.ID, set)
}

// invalidField is a 422 on one field.
func invalidField(pointer, keyword, msg string) error {
	return &job.Error{Code: job.CodeInvalid, Message: msg, Violations: []job.Violation{{Pointer: pointer, Keyword: keyword, Message: msg}}}
}

// archiveFiles reads the regular files of a .zip, .tar or .tar.gz
// archive (directories and hidden files skipped), in name order as the
// archive lists them.
func archiveFiles(name string, data []byte) ([]solvekit.InstanceFile, error) {
	var out []solvekit.InstanceFile
	keep := func(n string) bool {
		b := path.Base(n)
		return !strings.HasPrefix(b, ".") && !strings.HasSuffix(n, "/")
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, badRequest("archive %s: %v", name, err)
		}
		for _, f := range zr.File {
			if !keep(f.Name) || f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return nil, badRequest("archive %s: %v", name, err)
			}
			b, err := io.ReadAll(io.LimitReader(rc, int64(len(data))*100+1<<20))
			rc.Close()
			if err != nil {
				return nil, badRequest("archive %s: %v", name, err)
			}
			out = append(out, solvekit.InstanceFile{Name: path.Base(f.Name), Data: b})
		}
	case strings.HasSuffix(lower, ".tar"), strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		var rd io.Reader = bytes.NewReader(data)
		if !strings.HasSuffix(lower, ".tar") {
			gz, err := gzip.NewReader(rd)
			if err != nil {
				return nil, badRequest("archive %s: %v", name, err)
			}
			rd = gz
		}
		tr := tar.NewReader(rd)
		for {
			hd, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, badRequest("archive %s: %v", name, err)
			}
			if hd.Typeflag != tar.TypeReg || !keep(hd.Name) {
				continue
			}
			b, err := io.ReadAll(io.LimitReader(tr, int64(len(data))*100+1<<20))
			if err != nil {
				return nil, badRequest("archive %s: %v", name, err)
			}
			out = append(out, solvekit.InstanceFile{Name: path.Base(hd.Name), Data: b})
		}
	default:
		return nil, invalidField("/archive", "enum", "an archive is a .zip, .tar or .tar.gz file")
	}
	if len(out) > solvekit.MaxSetInstances {
		return nil, invalidField("/archive", "maxItems", fmt.Sprintf("at most %d files", solvekit.MaxSetInstances))
	}
	return out, nil
}

// listOwned lists a page of documents with list: a planner's own when
// sharing is off (the store's per-owner index keeps the page full and the
// total theirs), everyone's otherwise.
func listOwned[T any](h *handler, r *http.Request, p *Principal, list func(context.Context, solvekit.ListFilter) ([]*T, int64, error)) ([]*T, int64, error) {
	pg, err := parsePage(r)
	if err != nil {
		return nil, 0, err
	}
	f := solvekit.ListFilter{Limit: pg.limit, Offset: pg.offset}
	if !h.seesAll(p) {
		f.Owner = p.ID
	}
	return list(r.Context(), f)
}

func (h *handler) listInstanceSets(w http.ResponseWriter, r *http.Request, p *Principal) error {
	sets, total, err := listOwned(h, r, p, h.svc.InstanceSets)
	return okJSON(w, api.InstanceSetList{InstanceSets: sets, TotalEntries: total}, err)
}

func (h *handler) deleteInstanceSet(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return deleteOwned(w, r, p, h.instanceSet, func(s *solvekit.InstanceSet) string { return s.ID }, h.svc.DeleteInstanceSet)
}

func (h *handler) createExperiment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req api.ExperimentCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	if _, err := owned(h, r, p, "instance set", false, func(*http.Request) (*solvekit.InstanceSet, error) {
		return h.svc.InstanceSet(r.Context(), req.InstanceSetID)
	}, func(s *solvekit.InstanceSet) string { return s.Owner }); err != nil {
		return invalidField("/instance_set_id", "exists", fmt.Sprintf("instance set %q not found", req.InstanceSetID))
	}
	e, err := h.svc.CreateExperiment(r.Context(), solvekit.ExperimentRequest{Name: req.Name, JobType: req.JobType,
		InstanceSetID: req.InstanceSetID, Variants: req.Variants, Repetitions: req.Repetitions, SeedField: req.SeedField,
		TimeLimit: time.Duration(req.TimeLimitSeconds * float64(time.Second)), MaxInFlight: req.MaxInFlight,
		Sense: experiment.Sense(req.Sense), Baseline: req.Baseline, Tags: req.Tags, Owner: p.ID})
	if err != nil {
		return err
	}
	return h.created(w, r, "/experiments/"+e.ID, e)
}

func (h *handler) listExperiments(w http.ResponseWriter, r *http.Request, p *Principal) error {
	es, total, err := listOwned(h, r, p, h.svc.Experiments)
	return okJSON(w, api.ExperimentList{Experiments: es, TotalEntries: total}, err)
}

func (h *handler) patchExperiment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	req, mask, e, err := patchOwned[api.ExperimentPatch](h, r, p, h.experiment, experimentMask...)
	if err != nil {
		return err
	}
	if mask.writes("baseline", req.Baseline != nil) {
		e, err = h.svc.SetExperimentBaseline(r.Context(), e.ID, req.Baseline != nil && *req.Baseline)
	}
	return okJSON(w, e, err)
}

func (h *handler) stopExperiment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.experiment(r, p, true)
	if err != nil {
		return err
	}
	e, err = h.svc.StopExperiment(r.Context(), e.ID)
	return okJSON(w, e, err)
}

func (h *handler) deleteExperiment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return deleteOwned(w, r, p, h.experiment, func(e *solvekit.Experiment) string { return e.ID }, h.svc.DeleteExperiment)
}

// experimentResults loads the {id} experiment's results.
func (h *handler) experimentResults(r *http.Request, p *Principal) (*solvekit.ExperimentResults, error) {
	e, err := h.experiment(r, p, false)
	if err != nil {
		return nil, err
	}
	return h.svc.ExperimentResults(r.Context(), e.ID)
}

func (h *handler) getExperimentResults(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := h.experimentResults(r, p)
	return okJSON(w, res, err)
}

func (h *handler) getExperimentCSV(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := h.experimentResults(r, p)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := experiment.WriteCSV(&b, res.Rows); err != nil {
		return err
	}
	return writeBytes(w, "text/csv; charset=utf-8", b.Bytes())
}

func (h *handler) getExperimentProfile(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := h.experimentResults(r, p)
	if err != nil {
		return err
	}
	return writeBytes(w, "image/svg+xml", experiment.ProfileSVG(res.Profile))
}

func (h *handler) getExperimentPrimal(w http.ResponseWriter, r *http.Request, p *Principal) error {
	res, err := h.experimentResults(r, p)
	if err != nil {
		return err
	}
	labels := make([]string, len(res.Aggregates))
	for i, a := range res.Aggregates {
		labels[i] = a.Variant
	}
	return writeBytes(w, "image/svg+xml", experiment.PrimalGapSVG(res.Rows, labels, res.Experiment.Sense, res.Experiment.TimeLimitSeconds))
}

func writeBytes(w http.ResponseWriter, contentType string, b []byte) error {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err := w.Write(b)
	return err
}

// getExperimentComparison compares the {id} experiment with ?baseline=
// (default: the newest baseline of its job type and owner), within ?tolerance=
// (relative, default 0.05), comparing the KPIs of ?kpi=name:min,name:max.
func (h *handler) getExperimentComparison(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.experiment(r, p, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var o experiment.CompareOptions
	if v := q.Get("tolerance"); v != "" {
		if _, err := fmt.Sscanf(v, "%g", &o.Relative); err != nil || o.Relative < 0 {
			return badRequest("tolerance %q is not a non-negative number", v)
		}
	}
	for kv := range strings.SplitSeq(q.Get("kpi"), ",") {
		if kv == "" {
			continue
		}
		name, sense, _ := strings.Cut(kv, ":")
		if sense != "min" && sense != "max" {
			return badRequest("kpi %q: give name:min or name:max", kv)
		}
		if o.KPIGoals == nil {
			o.KPIGoals = map[string]experiment.Sense{}
		}
		o.KPIGoals[name] = experiment.Sense(sense)
	}
	base := q.Get("baseline")
	if base != "" {
		if _, err := owned(h, r, p, "experiment", false, func(*http.Request) (*solvekit.Experiment, error) {
			return h.svc.Experiment(r.Context(), base)
		}, func(e *solvekit.Experiment) string { return e.Owner }); err != nil {
			return err
		}
	}
	c, err := h.svc.CompareExperiments(r.Context(), e.ID, base, o)
	return okJSON(w, c, err)
}

// experimentRoutes are the routes of instance sets and experiments.
func (h *handler) experimentRoutes() []*route {
	return []*route{
		{method: "POST", path: "/instanceSets", op: "createInstanceSet", summary: "Create an instance set from stored instances", tag: "experiments",
			access: accWrite, handle: h.createInstanceSet, body: &api.InstanceSetCreate{}, status: 201, resp: api.InstanceSet{}},
		{method: "POST", path: "/instanceSets/import", op: "importInstanceSet", summary: "Create an instance set from files: multipart parts named \"file\" (.json, .mps, .lp) or one \"archive\" (.zip, .tar, .tar.gz); fields name, description, job_type, tags (comma-separated)", tag: "experiments",
			access: accWrite, handle: h.importInstanceSet, multipart: true, status: 201, resp: api.InstanceSet{}, errs: []int{400, 413, 422}},
		{method: "GET", path: "/instanceSets", op: "listInstanceSets", summary: "List instance sets, newest first", tag: "experiments",
			access: accRead, handle: h.listInstanceSets, status: 200, resp: api.InstanceSetList{}, query: pageQuery},
		{method: "GET", path: "/instanceSets/{id}", op: "getInstanceSet", summary: "Get an instance set", tag: "experiments",
			access: accRead, handle: showOwned(h.instanceSet), status: 200, resp: api.InstanceSet{}},
		{method: "DELETE", path: "/instanceSets/{id}", op: "deleteInstanceSet", summary: "Delete an instance set (its instances stay)", tag: "experiments",
			access: accWrite, handle: h.deleteInstanceSet, status: 204},

		{method: "POST", path: "/experiments", op: "createExperiment", summary: "Create an experiment: every instance × variant × repetition runs as an execution, at most max_in_flight at once", tag: "experiments",
			access: accWrite, handle: h.createExperiment, body: &api.ExperimentCreate{}, status: 201, resp: api.Experiment{}},
		{method: "GET", path: "/experiments", op: "listExperiments", summary: "List experiments, newest first", tag: "experiments",
			access: accRead, handle: h.listExperiments, status: 200, resp: api.ExperimentList{}, query: pageQuery},
		{method: "GET", path: "/experiments/{id}", op: "getExperiment", summary: "Get an experiment and how far it got", tag: "experiments",
			access: accRead, handle: showOwned(h.experiment), status: 200, resp: api.Experiment{}},
		{method: "PATCH", path: "/experiments/{id}", op: "patchExperiment", summary: "Mark an experiment as a baseline (or not)", tag: "experiments",
			access: accWrite, handle: h.patchExperiment, body: &api.ExperimentPatch{}, status: 200, resp: api.Experiment{},
			query: maskQuery(experimentMask)},
		{method: "DELETE", path: "/experiments/{id}", op: "deleteExperiment", summary: "Delete a finished or stopped experiment (its executions stay)", tag: "experiments",
			access: accWrite, handle: h.deleteExperiment, status: 204, errs: []int{409}},
		{method: "POST", path: "/experiments/{id}/stop", op: "stopExperiment", summary: "Stop an experiment: nothing more is submitted and its queued and running executions are cancelled; finished cells stay", tag: "experiments",
			access: accWrite, handle: h.stopExperiment, status: 200, resp: api.Experiment{}, errs: []int{409}},
		{method: "GET", path: "/experiments/{id}/results", op: "getExperimentResults", summary: "The results table (a row per cell), aggregates per variant and the performance profile", tag: "experiments",
			access: accRead, handle: h.getExperimentResults, status: 200, resp: api.ExperimentResults{}},
		{method: "GET", path: "/experiments/{id}/results.csv", op: "getExperimentResultsCSV", summary: "The results table as CSV", tag: "experiments",
			access: accRead, handle: h.getExperimentCSV, status: 200, kind: "binary"},
		{method: "GET", path: "/experiments/{id}/profile.svg", op: "getExperimentProfile", summary: "The Dolan–Moré performance profile of the variants' times, as SVG", tag: "experiments",
			access: accRead, handle: h.getExperimentProfile, status: 200, kind: "binary"},
		{method: "GET", path: "/experiments/{id}/primal.svg", op: "getExperimentPrimalGap", summary: "The variants' mean primal gap over time (incumbents over time), as SVG", tag: "experiments",
			access: accRead, handle: h.getExperimentPrimal, status: 200, kind: "binary"},
		{method: "GET", path: "/experiments/{id}/comparison", op: "getExperimentComparison", summary: "Compare with a baseline experiment: per variant and metric, better, worse or same", tag: "experiments",
			access: accRead, handle: h.getExperimentComparison, status: 200, resp: api.ExperimentComparison{},
			query: []qparam{{"baseline", "string", "the baseline experiment's id (default: the newest baseline of the same job type and owner)"},
				{"tolerance", "number", "relative tolerance (default 0.05)"},
				{"kpi", "string", "KPIs to compare, comma-separated name:min or name:max"}}},
	}
}
