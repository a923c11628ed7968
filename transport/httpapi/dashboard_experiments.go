package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/internal/servicecompare"
	"github.com/solvekit/solvekit/job"
)

// The experiments' pages (docs/experiments.md): a list, and one
// experiment with its aggregates, its comparison with a baseline, the
// first rows of its results table and the server's charts. The CSV and
// the charts are the REST handlers', mounted under /ui so that the
// session cookie (whose path is <prefix>/ui/) reaches them; the same
// ownership rules apply.

// dashExperimentRows is how many rows of the results table the page shows
// (the CSV has them all).
const dashExperimentRows = 50

// mountExperimentPages registers the experiments' dashboard routes.
func (h *handler) mountExperimentPages(page, post func(f func(w http.ResponseWriter, r *http.Request, p *Principal) error) http.Handler) {
	h.mux.Handle("GET /ui/experiments", page(h.dashExperiments))
	h.mux.Handle("GET /ui/experiments/{id}", page(h.dashExperiment))
	h.mux.Handle("GET /ui/experiments/{id}/results.csv", page(h.getExperimentCSV))
	h.mux.Handle("GET /ui/experiments/{id}/profile.svg", page(h.getExperimentProfile))
	h.mux.Handle("GET /ui/experiments/{id}/primal.svg", page(h.getExperimentPrimal))
	// The Stop button: as POST /experiments/{id}/stop (planners their own,
	// admins and service callers all), then 303 back to the experiment.
	h.mux.Handle("POST /ui/experiments/{id}/stop", post(dashStopOwned(h, h.experiment, func(e *solvekit.Experiment) string { return e.ID }, "experiments",
		func(ctx context.Context, id string) error {
			_, err := h.svc.StopExperiment(ctx, id)
			return err
		})))
}

type dashExperimentsData struct {
	Experiments []*solvekit.Experiment
	Total       int64
	// PrevURL and NextURL page the list ("" at either end).
	PrevURL, NextURL string
}

// dashExperiments lists the experiments p may see, newest first, as GET
// /experiments does (a planner's own unless Options.Sharing).
func (h *handler) dashExperiments(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	q.Set("limit", strconv.Itoa(dashPageSize))
	r.URL.RawQuery = q.Encode()
	es, total, err := listOwned(h, r, p, h.svc.Experiments)
	if err != nil {
		return err
	}
	d := &dashExperimentsData{Experiments: es, Total: total}
	offset, _ := strconv.Atoi(q.Get("offset"))
	at := func(o int) string { return h.uiBase(r) + "/experiments?offset=" + strconv.Itoa(o) }
	if offset > 0 {
		d.PrevURL = at(max(0, offset-dashPageSize))
	}
	if int64(offset+dashPageSize) < total {
		d.NextURL = at(offset + dashPageSize)
	}
	h.render(w, r, p, http.StatusOK, "experiments", "Experiments", d)
	return nil
}

type dashExperimentData struct {
	E       *solvekit.Experiment
	Results *solvekit.ExperimentResults
	// Rows are the results table's first dashExperimentRows rows.
	Rows []experiment.Row
	// Comparison is against the newest baseline of its job type (when
	// there is one that p may see).
	Comparison *experiment.Comparison
	CanStop    bool
	URL        string
}

// dashExperiment shows one experiment.
func (h *handler) dashExperiment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.experiment(r, p, false)
	if err != nil {
		return err
	}
	res, err := h.svc.ExperimentResults(r.Context(), e.ID)
	if err != nil {
		return err
	}
	d := &dashExperimentData{E: res.Experiment, Results: res, Rows: res.Rows[:min(len(res.Rows), dashExperimentRows)],
		CanStop: e.State == experiment.StateRunning && h.canChange(p, e.Owner), URL: h.uiBase(r) + "/experiments/" + e.ID}
	if !e.Baseline {
		// Compared from the results just read (CompareExperiments would
		// read them again).
		c, baseOwner, err := servicecompare.Compare(h.svc, r.Context(), res, "", experiment.CompareOptions{})
		switch {
		case err == nil:
			if h.canSee(p, baseOwner) {
				d.Comparison = c
			}
		case job.ErrorCode(err) != job.CodeNotFound:
			return err
		}
	}
	h.render(w, r, p, http.StatusOK, "experiment", "Experiment "+e.Name, d)
	return nil
}
