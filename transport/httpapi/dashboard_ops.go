package httpapi

import (
	"errors"
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
	Roles []api.Role
	// The new-user form as sent, with what the server found wrong with it
	// (never the password).
	New        api.UserCreate
	Error      string
	Violations []job.Violation
}

// dashUsers lists the built-in users to admins, with a form to create one
// and, on each row, forms to set its password, change its role, disable
// or enable it and delete it: the API's /users, as the dashboard's forms.
func (h *handler) dashUsers(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return h.renderUsers(w, r, p, http.StatusOK, &dashUsersData{New: api.UserCreate{Role: api.RolePlanner}})
}

// renderUsers renders the users page with d's form and error.
func (h *handler) renderUsers(w http.ResponseWriter, r *http.Request, p *Principal, status int, d *dashUsersData) error {
	if !accAdmin.allows(p.Role) {
		return forbidden("role %q may not see the users", p.Role)
	}
	us, total, err := h.users.ListUsers(r.Context(), users.Page{Limit: dashMaxListed})
	if err != nil {
		return err
	}
	d.Total, d.Roles = total, []api.Role{api.RoleViewer, api.RolePlanner, api.RoleAdmin, api.RoleService}
	for _, u := range us {
		d.Users = append(d.Users, u.User)
	}
	h.render(w, r, p, status, "users", "Users", d)
	return nil
}

// dashCreateUser creates a user from the users page's form (as POST
// /users does: the same checks). A refused form is shown again with the
// server's verdict (the password left out); success answers 303 to the
// list.
func (h *handler) dashCreateUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if !accAdmin.allows(p.Role) {
		return forbidden("role %q may not create users", p.Role)
	}
	req := api.UserCreate{Username: r.PostFormValue("username"), Email: r.PostFormValue("email"),
		Role: api.Role(r.PostFormValue("role")), Password: r.PostFormValue("password")}
	err := job.Validate(req)
	var u *users.User
	if err == nil {
		u, err = newUser(req)
	}
	if err == nil {
		err = h.users.CreateUser(r.Context(), u, req.Password)
	}
	var je *job.Error
	if errors.As(err, &je) {
		req.Password = ""
		return h.renderUsers(w, r, p, StatusOf(je.Code), &dashUsersData{New: req, Error: je.Message, Violations: je.Violations})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, h.uiBase(r)+"/users", http.StatusSeeOther)
	return nil
}

// dashChangeUser applies one of the users page's row actions to user
// {id}: "role" (the form's role), "password" (the form's new password),
// "disable", "enable" or "delete". An admin cannot demote, disable or
// delete itself (409, as over the API).
func (h *handler) dashChangeUser(action string) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		if !accAdmin.allows(p.Role) {
			return forbidden("role %q may not change users", p.Role)
		}
		ctx := r.Context()
		id, err := pathID(r, "user")
		if err != nil {
			return err
		}
		if _, err := h.users.GetUser(ctx, id); err != nil {
			return err
		}
		var ch users.UserChange
		switch action {
		case "delete":
			if err := h.removeUser(ctx, p, id); err != nil {
				return err
			}
			http.Redirect(w, r, h.uiBase(r)+"/users", http.StatusSeeOther)
			return nil
		case "role":
			role := r.PostFormValue("role")
			if err := job.Validate(api.UserPatch{Role: (*api.Role)(&role)}); err != nil {
				return err
			}
			ch.Role = &role
		case "password":
			pw := r.PostFormValue("password")
			if err := job.Validate(api.UserPatch{Password: &pw}); err != nil {
				return err
			}
			if err := users.CheckPasswordLength("/password", pw); err != nil {
				return err
			}
			ch.Password = &pw
		default:
			disabled := action == "disable"
			ch.Disabled = &disabled
		}
		if err := checkSelfChange(p, id, ch); err != nil {
			return err
		}
		if _, err := h.users.ChangeUser(ctx, id, ch); err != nil {
			return err
		}
		http.Redirect(w, r, h.uiBase(r)+"/users", http.StatusSeeOther)
		return nil
	}
}
