package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// The tags API, after pyfarm's: GET /tags lists every tag with counts,
// GET /tags/{tag} what carries one, POST /tags adds a tag to many records
// at once and DELETE /tags/{tag} removes it from every record. One
// record's tags change with PATCH on it (tags), and the lists filter by
// one with ?tag=.

func tagOut(t *solvekit.TagInfo) *api.Tag {
	out := &api.Tag{Name: t.Name, Executions: t.Executions, Instances: t.Instances, JobTypes: t.JobTypes}
	if out.JobTypes == nil {
		out.JobTypes = []string{}
	}
	return out
}

// sees tells whether p sees every owner's records, so that a tag's
// records may be listed to it by id.
func (h *handler) seesAll(p *Principal) bool {
	return p.Role != api.RolePlanner || h.opts.Sharing
}

// tagPage reads ?limit= and ?page_token= (the tags routes page with
// tokens only).
func tagPage(r *http.Request) (solvekit.TagListOptions, error) {
	pg, err := parsePage(r)
	if err != nil {
		return solvekit.TagListOptions{}, err
	}
	if pg.offset != 0 {
		return solvekit.TagListOptions{}, badRequest("tags page with page_token, not offset")
	}
	return solvekit.TagListOptions{Limit: pg.limit, PageToken: r.URL.Query().Get("page_token")}, nil
}

func (h *handler) listTags(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	o, err := tagPage(r)
	if err != nil {
		return err
	}
	tp, err := h.svc.Tags(r.Context(), o)
	if err != nil {
		return err
	}
	out := api.TagList{Tags: make([]*api.Tag, 0, len(tp.Tags)), NextPageToken: tp.NextPageToken}
	for _, t := range tp.Tags {
		out.Tags = append(out.Tags, tagOut(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) getTag(w http.ResponseWriter, r *http.Request, p *Principal) error {
	o, err := tagPage(r)
	if err != nil {
		return err
	}
	name := r.PathValue("tag")
	ti, err := h.svc.Tag(r.Context(), name)
	if err != nil {
		if job.ErrorCode(err) == job.CodeInvalid {
			return notFoundErr("tag %q not found", name)
		}
		return err
	}
	out := api.TagDetail{Tag: *tagOut(ti), Items: []api.TaggedItem{}}
	// A planner who sees only its own records learns the counts; it lists
	// its own with GET /executions?tag= and GET /instances?tag=.
	if h.seesAll(p) {
		items, err := h.svc.TaggedItems(r.Context(), name, o)
		if err != nil {
			return err
		}
		for _, it := range items.Items {
			out.Items = append(out.Items, api.TaggedItem{Kind: it.Kind, ID: it.ID})
		}
		out.NextPageToken = items.NextPageToken
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) attachTag(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req api.TagAttach
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	t := solvekit.TagTargets{}
	for i, id := range req.ExecutionIDs {
		if uuidPattern.MatchString(id) {
			id = strings.ToLower(id) // a chosen id keeps its case
		}
		e, err := h.svc.Get(ctx, id)
		if err == nil {
			err = h.visible(p, e, id, true)
		}
		if err != nil {
			return pointAt(err, "/execution_ids", i)
		}
		t.ExecutionIDs = append(t.ExecutionIDs, id)
	}
	for i, id := range req.InstanceIDs {
		id = strings.ToLower(id)
		in, err := h.svc.GetInstance(ctx, id)
		if err == nil {
			err = h.checkAccess(p, "instance", id, in.Owner, true)
		}
		if err != nil {
			return pointAt(err, "/instance_ids", i)
		}
		t.InstanceIDs = append(t.InstanceIDs, id)
	}
	ti, err := h.svc.AttachTag(ctx, req.Tag, t)
	return answer(w, ti, err, tagOut)
}

// pointAt turns a missing record named by a body's list into a 422 that
// points at it; other errors pass.
func pointAt(err error, list string, i int) error {
	if job.ErrorCode(err) != job.CodeNotFound {
		return err
	}
	return &job.Error{Code: job.CodeInvalid, Message: err.Error(),
		Violations: []job.Violation{{Pointer: list + "/" + strconv.Itoa(i), Keyword: "exists", Message: "no such record"}}}
}

func (h *handler) deleteTag(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	name := r.PathValue("tag")
	if !job.ValidTag(name) {
		return notFoundErr("tag %q not found", name)
	}
	rm, err := h.svc.DeleteTag(r.Context(), name)
	return answer(w, rm, err, func(rm *solvekit.TagRemoval) *api.TagRemoval {
		return &api.TagRemoval{Executions: rm.Executions, Instances: rm.Instances}
	})
}

// tagFilter reads ?tag= of a listing into f, or a violation.
func tagFilter(r *http.Request, f *string) *job.Violation {
	v := r.URL.Query().Get("tag")
	if v == "" {
		return nil
	}
	if !job.ValidTag(v) {
		return &job.Violation{Pointer: "?tag", Keyword: "pattern", Message: "a tag: 1 to 64 of a-z, 0-9, '.', '_', ':', '-'"}
	}
	*f = v
	return nil
}
