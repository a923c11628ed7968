package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi/internal/users"
)

// The operators' pages: pausing job types and queues (admins), the
// workers with their running executions (admins, service principals) and
// the users (admins).

// dashMaxListed bounds the running executions and users one page reads.
const dashMaxListed = 1000

// dashPause pauses (paused true) or resumes a job type or a queue from
// the job types and queues pages' buttons: admins only, as PATCH
// /jobTypes/{name} and POST /queues/{name}:pause are. It answers 303 back
// to the page the button was on.
func (h *handler) dashPause(kind string, paused bool) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		if !accAdmin.allows(p.Role) {
			return forbidden("role %q may not pause or resume %s", p.Role, kind)
		}
		name := r.PathValue("name")
		var err error
		back := h.uiBase(r) + "/queues"
		if kind == "job types" {
			err = h.svc.PauseJobType(r.Context(), name, paused)
			back = h.uiBase(r) + "/jobTypes"
			if r.PostFormValue("back") == "jobType" {
				back += "/" + name
			}
		} else {
			_, err = h.svc.PauseQueue(r.Context(), name, paused)
		}
		if err != nil {
			return err
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
}

// dashWorker is one worker with the executions it runs now.
type dashWorker struct {
	*api.Worker
	Queues  string
	Running []*job.Execution
}

type dashWorkersData struct {
	Workers []*dashWorker
	// Elsewhere are running executions no listed worker reports running
	// (a sync job's, which runs in the process that took the request, or
	// one whose worker just went away or has just taken it).
	Elsewhere []*job.Execution
	// Cut: more executions run than the page reads.
	Cut bool
}

// dashWorkers lists the workers (as GET /workers does, for admins and
// service principals) with the executions each runs now: matched by the
// ids each worker reported at its last heartbeat (WorkerInfo.Executions),
// else, for an execution that started since, by its worker name (by
// default "host:pid:random", Config.WorkerID) to the worker of that host
// and process.
func (h *handler) dashWorkers(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if !accOps.allows(p.Role) {
		return forbidden("role %q may not see the workers", p.Role)
	}
	ctx := r.Context()
	ws, err := h.svc.Workers(ctx)
	if err != nil {
		return err
	}
	page, err := h.svc.ListPage(ctx, solvekit.ListOptions{State: job.StateRunning, Limit: dashMaxListed})
	if err != nil {
		return err
	}
	d := &dashWorkersData{Cut: page.NextPageToken != ""}
	for _, wi := range ws {
		dw := &dashWorker{Worker: workerOut(wi)}
		var qs []string
		for _, q := range slices.Sorted(mapKeys(wi.Queues)) {
			qs = append(qs, q+" ("+strconv.Itoa(wi.Queues[q])+")")
		}
		dw.Queues = strings.Join(qs, ", ")
		d.Workers = append(d.Workers, dw)
	}
	for _, e := range page.Executions {
		var home *dashWorker
		for i, wi := range ws {
			if _, ok := slices.BinarySearch(wi.Executions, e.ID); ok {
				home = d.Workers[i]
				break
			}
		}
		for i, wi := range ws {
			if home == nil && strings.HasPrefix(e.Worker, wi.Host+":"+strconv.Itoa(wi.PID)+":") {
				home = d.Workers[i]
			}
		}
		if home == nil {
			d.Elsewhere = append(d.Elsewhere, e)
		} else {
			home.Running = append(home.Running, e)
		}
	}
	h.render(w, r, p, http.StatusOK, "workers", "Workers", d)
	return nil
}

type dashUsersData struct {
	Users []api.User
	Total int64
}

// dashUsers lists the built-in users to admins (read-only: users are
// managed through the API's /users).
func (h *handler) dashUsers(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if !accAdmin.allows(p.Role) {
		return forbidden("role %q may not see the users", p.Role)
	}
	us, total, err := h.users.ListUsers(r.Context(), users.Page{Limit: dashMaxListed})
	if err != nil {
		return err
	}
	d := &dashUsersData{Total: total}
	for _, u := range us {
		d.Users = append(d.Users, u.User)
	}
	h.render(w, r, p, http.StatusOK, "users", "Users", d)
	return nil
}
