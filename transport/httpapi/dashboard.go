package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// The dashboard is a few server-rendered pages under <prefix>/ui/ (see
// Options.Dashboard and docs/dashboard.md). It lives in this package, not
// in a package of its own, because it authenticates exactly as the API
// does: the host Authenticator first, then the API's own login token (kept
// in an HttpOnly cookie) checked by the same code, with the same roles and
// the same ownership rules (canSee, canChange). Its templates and assets
// are embedded; nothing is fetched at run time.

//go:embed dashboard
var dashboardFiles embed.FS

const (
	// dashSessionCookie carries the API's login token (a JWT).
	dashSessionCookie = "solvekit_session"
	// dashCSRFCookie carries a random per-browser value; forms carry an
	// HMAC of the principal's ID keyed with it.
	dashCSRFCookie = "solvekit_csrf"
	// dashPageSize is the executions page's page size.
	dashPageSize = 25
	// dashMaxHistory bounds the events read for the chart and timeline.
	dashMaxHistory = 20000
	// dashMaxShownJSON is the largest solution or instance shown inline.
	dashMaxShownJSON = 256 << 10
)

// dashboard holds the parsed page templates.
type dashboard struct {
	pages  map[string]*template.Template
	static fs.FS
}

var dashFuncs = template.FuncMap{
	"fmtTime": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return ""
	},
	"fmtTimeMs": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"fmtFloat": func(f any) string {
		switch v := f.(type) {
		case float64:
			return strconv.FormatFloat(v, 'g', 8, 64)
		case *float64:
			if v == nil {
				return ""
			}
			return strconv.FormatFloat(*v, 'g', 8, 64)
		}
		return ""
	},
	"percent": func(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) },
	// pauseArgs are the pause/resume button's: the page (for its CSRF
	// token), the thing's URL, whether it is paused, its name, and the
	// page to come back to.
	"pauseArgs": func(page *dashPage, action string, paused bool, name, back string) map[string]any {
		return map[string]any{"Page": page, "Action": action, "Paused": paused, "Name": name, "Back": back}
	},
	// args are a shared template's: name, value pairs.
	"args": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("args: %d values, not name, value pairs", len(kv))
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			name, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("args: name %v is not a string", kv[i])
			}
			m[name] = kv[i+1]
		}
		return m, nil
	},
}

func newDashboard() (*dashboard, error) {
	d := &dashboard{pages: map[string]*template.Template{}}
	static, err := fs.Sub(dashboardFiles, "dashboard/static")
	if err != nil {
		return nil, err
	}
	d.static = static
	for _, name := range []string{"login", "executions", "execution", "message", "jobtypes", "jobtype", "queues", "workers", "users", "experiments", "experiment"} {
		t, err := template.New(name).Funcs(dashFuncs).ParseFS(dashboardFiles, "dashboard/layout.html", "dashboard/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("httpapi: dashboard template %s: %w", name, err)
		}
		d.pages[name] = t
	}
	return d, nil
}

// mountDashboard registers the dashboard's routes on the private mux.
func (h *handler) mountDashboard() error {
	d, err := newDashboard()
	if err != nil {
		return err
	}
	h.dash = d
	page := func(f func(w http.ResponseWriter, r *http.Request, p *Principal) error) http.Handler {
		return h.dashWrap(f, false)
	}
	post := func(f func(w http.ResponseWriter, r *http.Request, p *Principal) error) http.Handler {
		return h.dashWrap(f, true)
	}
	home := page(func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		http.Redirect(w, r, h.uiBase(r)+"/executions", http.StatusSeeOther)
		return nil
	})
	h.mux.Handle("GET /ui/{$}", home)
	h.mux.Handle("GET /ui", home)
	h.mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", dashAssets(d.static)))
	h.mux.HandleFunc("GET /ui/login", h.dashLoginPage)
	h.mux.HandleFunc("POST /ui/login", h.dashLogin)
	h.mux.HandleFunc("POST /ui/logout", h.dashLogout)
	h.mux.Handle("GET /ui/executions", page(h.dashExecutions))
	h.mux.Handle("GET /ui/counts", page(h.dashCounts))
	h.mux.Handle("GET /ui/executions/{id}", page(h.dashExecution))
	h.mux.Handle("GET /ui/executions/{id}/log", page(h.dashLogStream))
	h.mux.Handle("GET /ui/executions/{id}/solution.json", page(h.dashDownload("solution")))
	h.mux.Handle("GET /ui/executions/{id}/instance.json", page(h.dashDownload("instance")))
	h.mux.Handle("POST /ui/executions/{id}/stop", post(dashStopOwned(h, h.execution, func(e *job.Execution) string { return e.ID }, "executions", h.svc.Cancel)))
	h.mux.Handle("POST /ui/executions/{id}/relaunch", post(h.dashRelaunch))
	h.mux.Handle("GET /ui/jobTypes", page(h.dashJobTypes))
	h.mux.Handle("GET /ui/jobTypes/{name}", page(h.dashJobType))
	h.mux.Handle("POST /ui/jobTypes/{name}/submit", post(h.dashSubmit))
	h.mux.Handle("GET /ui/queues", page(h.dashQueues))
	h.mux.Handle("POST /ui/jobTypes/{name}/pause", post(h.dashPause("job types", true)))
	h.mux.Handle("POST /ui/jobTypes/{name}/resume", post(h.dashPause("job types", false)))
	h.mux.Handle("POST /ui/queues/{name}/pause", post(h.dashPause("queues", true)))
	h.mux.Handle("POST /ui/queues/{name}/resume", post(h.dashPause("queues", false)))
	h.mux.Handle("GET /ui/workers", page(h.dashWorkers))
	h.mux.Handle("GET /ui/users", page(h.dashUsers))
	h.mux.Handle("POST /ui/users", post(h.dashCreateUser))
	for _, action := range []string{"role", "password", "disable", "enable", "delete"} {
		h.mux.Handle("POST /ui/users/{id}/"+action, post(h.dashChangeUser(action)))
	}
	h.mountExperimentPages(page, post) // dashboard_experiments.go
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.dashMessage(w, r, nil, http.StatusNotFound, "Not found", "No dashboard page at "+r.URL.Path+".")
	})
	return nil
}

// dashAssets serves the embedded CSS and JavaScript.
func dashAssets(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// uiBase is the dashboard's base path as the client sees it
// ("<prefix>/ui"): every link and form action starts with it.
func (h *handler) uiBase(r *http.Request) string { return h.basePath(r) + "/ui" }

// dashHeaders sets the headers every dashboard answer carries: a strict
// content security policy (scripts and styles from the dashboard's own
// assets only), no framing, no caching of pages.
func dashHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

// dashAuthenticate finds the principal of a dashboard request the way the
// API does (host Authenticator, then built-in credentials), with the
// session cookie standing for the Authorization header. Job keys and the
// bootstrap token do not open the dashboard. It returns (nil, nil) when
// the request carries no credentials at all.
func (h *handler) dashAuthenticate(r *http.Request) (*Principal, error) {
	r2 := r
	if c, err := r.Cookie(dashSessionCookie); err == nil && c.Value != "" && credential(r) == "" && !h.opts.DisableBuiltinAuth {
		r2 = r.Clone(r.Context())
		r2.Header.Set("Authorization", "Bearer "+c.Value)
	}
	if h.opts.Authenticator == nil && credential(r2) == "" {
		return nil, nil
	}
	p, err := h.authenticate(&route{}, r2)
	if err != nil {
		// An expired or otherwise stale session cookie is no session: the
		// page sends the browser to the login form. Credentials sent as
		// headers get the error.
		if job.ErrorCode(err) == job.CodeUnauthorized && credential(r) == "" {
			return nil, nil
		}
		return nil, err
	}
	if p.Source == "job_key" || p.Source == "bootstrap" || !p.Role.Valid() {
		return nil, forbidden("the dashboard is for users; job keys and the bootstrap token do not open it")
	}
	return p, nil
}

// dashWrap authenticates a dashboard route; state-changing ones (post)
// also need a valid CSRF token and a role that may write.
func (h *handler) dashWrap(f func(w http.ResponseWriter, r *http.Request, p *Principal) error, post bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dashHeaders(w)
		r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
		p, err := h.dashAuthenticate(r)
		if err != nil {
			h.dashError(w, r, nil, err)
			return
		}
		if p == nil {
			if post || h.opts.DisableBuiltinAuth {
				h.dashMessage(w, r, nil, http.StatusUnauthorized, "Sign in required", "This page needs credentials.")
				return
			}
			next := h.uiBase(r) + r.URL.Path[len("/ui"):]
			if r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, h.uiBase(r)+"/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if post {
			if err := h.checkCSRF(r, p.ID); err != nil {
				h.dashError(w, r, p, err)
				return
			}
			if !accWrite.allows(p.Role) {
				h.dashError(w, r, p, forbidden("role %q may not change executions", p.Role))
				return
			}
		}
		if err := f(w, r, p); err != nil {
			h.dashError(w, r, p, err)
		}
	})
}

// --- CSRF ---

// csrfSeed returns the browser's CSRF cookie value, setting a new one when
// the request has none (or a malformed one).
func (h *handler) csrfSeed(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(dashCSRFCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: dashCSRFCookie, Value: v, Path: h.uiBase(r) + "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	// Later reads in this request (the token in the page) see it too.
	r.AddCookie(&http.Cookie{Name: dashCSRFCookie, Value: v})
	return v
}

// csrfToken is the token forms carry for principal id ("" before login):
// an HMAC of the id keyed with the browser's CSRF cookie. It needs no
// server-side state and no shared secret, so it works across processes,
// and it is bound to both the browser and the signed-in principal.
func csrfToken(seed, id string) string {
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte("solvekit-dashboard-csrf\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF refuses (403) a form post whose token does not match the CSRF
// cookie and principal id, or that a browser marks as cross-site.
func (h *handler) checkCSRF(r *http.Request, id string) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return forbidden("cross-site form posts are refused")
	}
	c, err := r.Cookie(dashCSRFCookie)
	if err != nil || len(c.Value) != 43 {
		return forbidden("missing CSRF cookie: reload the page and try again")
	}
	got := r.PostFormValue("csrf")
	if got == "" || !hmac.Equal([]byte(got), []byte(csrfToken(c.Value, id))) {
		return forbidden("invalid CSRF token: reload the page and try again")
	}
	return nil
}

// --- rendering ---

// dashPage is what every template gets.
type dashPage struct {
	Base      string
	Title     string
	User      *Principal
	CSRF      string
	CanWrite  bool
	CanLogout bool
	// CanOps shows the queues and workers pages' links (admin, service).
	CanOps bool
	// CanAdmin shows the users page's link and the pause buttons.
	CanAdmin bool
	Data     any
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, p *Principal, status int, name, title string, data any) {
	pg := &dashPage{Base: h.uiBase(r), Title: title, User: p, Data: data}
	id := ""
	if p != nil {
		id = p.ID
		pg.CanWrite = accWrite.allows(p.Role)
		pg.CanLogout = p.Source == "jwt"
		pg.CanOps = accOps.allows(p.Role)
		pg.CanAdmin = accAdmin.allows(p.Role)
	}
	pg.CSRF = csrfToken(h.csrfSeed(w, r), id)
	var buf bytes.Buffer
	if err := h.dash.pages[name].ExecuteTemplate(&buf, "layout", pg); err != nil {
		h.log.Error("solvekit/httpapi: dashboard template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type dashMessageData struct {
	Status  int
	Message string
}

func (h *handler) dashMessage(w http.ResponseWriter, r *http.Request, p *Principal, status int, title, msg string) {
	dashHeaders(w)
	h.render(w, r, p, status, "message", title, &dashMessageData{Status: status, Message: msg})
}

// dashError answers err as an HTML page with the status the API would use.
func (h *handler) dashError(w http.ResponseWriter, r *http.Request, p *Principal, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return
	}
	status, msg := http.StatusInternalServerError, "internal error"
	var je *job.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &je):
		status, msg = StatusOf(je.Code), je.Message
	default:
		h.log.Error("solvekit/httpapi: dashboard error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h.dashMessage(w, r, p, status, http.StatusText(status), msg)
}

// --- login ---

type dashLoginData struct {
	Next  string
	Error string
}

// safeNext keeps next only when it is a dashboard path of this mount.
func (h *handler) safeNext(r *http.Request, next string) string {
	base := h.uiBase(r)
	if !strings.HasPrefix(next, base+"/") || strings.Contains(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return base + "/executions"
	}
	return next
}

// loginPage starts an answer of the login form's routes: there is none
// (404, and false) when built-in logins are disabled.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) bool {
	dashHeaders(w)
	if h.opts.DisableBuiltinAuth {
		h.dashMessage(w, r, nil, http.StatusNotFound, "No login here", "Built-in logins are disabled: sign in to the host application.")
		return false
	}
	return true
}

func (h *handler) dashLoginPage(w http.ResponseWriter, r *http.Request) {
	if !h.loginPage(w, r) {
		return
	}
	h.render(w, r, nil, http.StatusOK, "login", "Sign in", &dashLoginData{Next: h.safeNext(r, r.URL.Query().Get("next"))})
}

func (h *handler) dashLogin(w http.ResponseWriter, r *http.Request) {
	if !h.loginPage(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	if err := h.checkCSRF(r, ""); err != nil {
		h.dashError(w, r, nil, err)
		return
	}
	next := h.safeNext(r, r.PostFormValue("next"))
	u, err := h.checkLogin(w, r, r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		status, msg := http.StatusInternalServerError, "sign-in failed"
		if je, ok := errors.AsType[*job.Error](err); ok {
			status, msg = StatusOf(je.Code), je.Message
		}
		if status == http.StatusInternalServerError {
			h.log.Error("solvekit/httpapi: dashboard login", "err", err)
		}
		h.render(w, r, nil, status, "login", "Sign in", &dashLoginData{Next: next, Error: msg})
		return
	}
	tok, exp, err := h.issueToken(u)
	if err != nil {
		h.dashError(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: dashSessionCookie, Value: tok, Path: h.uiBase(r) + "/", Expires: exp,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// dashLogout forgets the session cookie. The token itself stays valid
// until it expires (tokens are stateless), but no page holds it anymore.
func (h *handler) dashLogout(w http.ResponseWriter, r *http.Request) {
	dashHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	p, err := h.dashAuthenticate(r)
	if err != nil || p == nil {
		h.dashMessage(w, r, nil, http.StatusUnauthorized, "Not signed in", "There is no session to end.")
		return
	}
	if err := h.checkCSRF(r, p.ID); err != nil {
		h.dashError(w, r, p, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: dashSessionCookie, Value: "", Path: h.uiBase(r) + "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, h.uiBase(r)+"/login", http.StatusSeeOther)
}

// --- executions ---

type dashStateCount struct {
	State    job.State
	Count    int64
	Selected bool
}

type dashExecutionsData struct {
	Counts   []dashStateCount
	JobTypes []string
	State    string
	JobType  string
	// Owner, CreatedAfter, CreatedBefore, Metadata ("k=v k2=v2") and Tag
	// are the other filters, as typed.
	Owner, CreatedAfter, CreatedBefore, Metadata, Tag string
	// MineURL filters the owner to the signed-in principal.
	MineURL    string
	Filtered   bool
	Executions []*job.Execution
	Total      int64
	NextURL    string
	FirstURL   string
	Paged      bool
	Error      string
}

// dashTimeLayouts are the created range's accepted forms: RFC 3339, and
// the datetime-local input's (taken as UTC), with or without seconds, or
// a date alone.
var dashTimeLayouts = []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"}

func parseDashTime(v string) (time.Time, bool) {
	for _, l := range dashTimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// dashFilters reads the executions page's filters into f (the page's data
// keeps them as typed, filter the query that carries them to the next
// page) and returns what is wrong with them.
func (h *handler) dashFilters(r *http.Request, p *Principal, d *dashExecutionsData, f *solvekit.ListOptions, filter url.Values) []string {
	q := r.URL.Query()
	var bad []string
	keep := func(name, v string) {
		if v != "" {
			filter.Set(name, v)
		}
	}
	d.State, d.JobType = q.Get("state"), q.Get("job_type")
	d.Owner, d.Tag = strings.TrimSpace(q.Get("owner")), strings.TrimSpace(q.Get("tag"))
	d.CreatedAfter, d.CreatedBefore = strings.TrimSpace(q.Get("created_after")), strings.TrimSpace(q.Get("created_before"))
	d.Metadata = strings.TrimSpace(q.Get("metadata"))
	if d.State != "" {
		if !job.State(d.State).Valid() {
			bad = append(bad, fmt.Sprintf("unknown state %q", d.State))
		}
		f.State = job.State(d.State)
	}
	if d.JobType != "" {
		if _, err := h.svc.Registry().Lookup(d.JobType); err != nil {
			bad = append(bad, fmt.Sprintf("unknown job type %q", d.JobType))
		}
		f.JobType = d.JobType
	}
	f.Owner = d.Owner
	if !h.seesAll(p) {
		if d.Owner != "" && d.Owner != p.ID {
			bad = append(bad, "planners see their own executions only")
		}
		f.Owner = p.ID
	}
	for _, c := range []struct {
		name, v string
		to      *time.Time
	}{{"created after", d.CreatedAfter, &f.CreatedAfter}, {"created before", d.CreatedBefore, &f.CreatedBefore}} {
		if c.v == "" {
			continue
		}
		t, ok := parseDashTime(c.v)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: %q is not a time such as 2025-01-02T15:04 (UTC)", c.name, c.v))
		}
		*c.to = t
	}
	for _, kv := range strings.FieldsFunc(d.Metadata, func(r rune) bool { return r == ',' || r == ' ' }) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			bad = append(bad, fmt.Sprintf("metadata: %q is not key=value", kv))
			continue
		}
		if f.Metadata == nil {
			f.Metadata = map[string]string{}
		}
		f.Metadata[k] = v
	}
	if d.Tag != "" {
		if !job.ValidTag(d.Tag) {
			bad = append(bad, fmt.Sprintf("tag: %q is not a tag (1 to 64 of a-z, 0-9, '.', '_', ':', '-')", d.Tag))
		}
		f.Tag = d.Tag
	}
	keep("state", d.State)
	keep("job_type", d.JobType)
	keep("owner", d.Owner)
	keep("created_after", d.CreatedAfter)
	keep("created_before", d.CreatedBefore)
	keep("metadata", d.Metadata)
	keep("tag", d.Tag)
	return bad
}

func (h *handler) dashExecutions(w http.ResponseWriter, r *http.Request, p *Principal) error {
	d := &dashExecutionsData{}
	for _, t := range h.svc.Registry().List() {
		d.JobTypes = append(d.JobTypes, t.Name())
	}
	slices.Sort(d.JobTypes)
	ctx := r.Context()
	f := solvekit.ListOptions{Limit: dashPageSize, PageToken: r.URL.Query().Get("page_token")}
	filter := url.Values{}
	status := http.StatusOK
	if bad := h.dashFilters(r, p, d, &f, filter); len(bad) > 0 {
		d.Error, status = strings.Join(bad, "; "), http.StatusBadRequest
	}
	counts, err := h.svc.Counts(ctx)
	if err != nil {
		return err
	}
	for _, st := range job.States {
		d.Counts = append(d.Counts, dashStateCount{State: st, Count: counts[st], Selected: string(st) == d.State})
	}
	base := h.uiBase(r) + "/executions"
	mine := url.Values{"owner": {p.ID}}
	d.MineURL = base + "?" + mine.Encode()
	d.Filtered = len(filter) > 0
	d.FirstURL = base
	if len(filter) > 0 {
		d.FirstURL += "?" + filter.Encode()
	}
	d.Paged = f.PageToken != ""
	if d.Error == "" {
		l, err := h.svc.ListPage(ctx, f)
		if err != nil {
			if je, ok := errors.AsType[*job.Error](err); ok && StatusOf(je.Code) < 500 {
				d.Error, status = je.Message, StatusOf(je.Code)
			} else {
				return err
			}
		} else {
			d.Executions, d.Total = l.Executions, l.Total
			if l.NextPageToken != "" {
				nv := url.Values{}
				for k, v := range filter {
					nv[k] = v
				}
				nv.Set("page_token", l.NextPageToken)
				d.NextURL = base + "?" + nv.Encode()
			}
		}
	}
	h.render(w, r, p, status, "executions", "Executions", d)
	return nil
}

// dashTimelineEntry is one state change of the execution's history.
type dashTimelineEntry struct {
	Time    time.Time
	State   string
	Attempt int
	Reason  string
}

type dashExecutionData struct {
	E              *job.Execution
	CanStop        bool
	CanRelaunch    bool
	Timeline       []dashTimelineEntry
	Chart          *incumbentChart
	HistoryCut     bool
	Solution       *dashDoc // nil: none yet
	Instance       *dashDoc
	KPIs           []dashKV
	ErrorDetails   string
	LogURL         string
	ExecutionsURL  string
	ExecutionURL   string
	StopAction     string
	RelaunchAction string
	// The relaunch form's config editor: the config shown (the
	// execution's, or what was typed), the job type's config schema (for
	// the page's own check), and the server's verdict on a refused one.
	RelaunchConfig     string
	ConfigSchema       string
	RelaunchError      string
	RelaunchViolations []job.Violation
}

// dashDoc is a JSON document the execution page shows (pretty, or not
// when too large) with a link to download it.
type dashDoc struct {
	Label, Name string // "Solution", "solution"
	Text        string
	Cut         bool
	URL         string
}

func newDashDoc(label string, b []byte, url string) *dashDoc {
	d := &dashDoc{Label: label, Name: strings.ToLower(label), URL: url}
	d.Text, d.Cut = prettyJSON(b)
	return d
}

type dashKV struct {
	Key   string
	Value string
}

func (h *handler) dashExecution(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	return h.renderExecution(w, r, p, e, http.StatusOK, nil)
}

// renderExecution renders the execution page; relaunch, when not nil,
// carries a refused relaunch form (config, error, violations).
func (h *handler) renderExecution(w http.ResponseWriter, r *http.Request, p *Principal, e *job.Execution, status int, relaunch *dashExecutionData) error {
	ctx := r.Context()
	base := h.uiBase(r)
	self := base + "/executions/" + e.ID
	d := &dashExecutionData{E: e, ExecutionsURL: base + "/executions", ExecutionURL: self, LogURL: self + "/log",
		StopAction: self + "/stop", RelaunchAction: self + "/relaunch"}
	if relaunch != nil {
		d.RelaunchConfig, d.RelaunchError, d.RelaunchViolations = relaunch.RelaunchConfig, relaunch.RelaunchError, relaunch.RelaunchViolations
	} else if len(e.Config) > 0 {
		d.RelaunchConfig, _ = prettyJSON(e.Config)
	}
	if t, err := h.svc.Registry().Lookup(e.JobType); err == nil {
		d.ConfigSchema = schemaText(h.jobTypeDetail(t).ConfigSchema)
	}
	var err error
	write := accWrite.allows(p.Role) && h.canChange(p, e.Owner)
	d.CanStop = write && !e.State.Terminal()
	d.CanRelaunch = write && e.State.Terminal()
	for _, k := range slices.Sorted(mapKeys(e.KPIs)) {
		d.KPIs = append(d.KPIs, dashKV{k, strconv.FormatFloat(e.KPIs[k], 'g', 8, 64)})
	}
	if e.Error != nil && e.Error.Details != nil {
		if b, err := json.MarshalIndent(e.Error.Details, "", "  "); err == nil {
			d.ErrorDetails = string(b)
		}
	}
	var points []incumbentPoint
	d.Timeline, points, d.HistoryCut, err = h.history(ctx, e)
	if err != nil {
		return err
	}
	d.Chart = newIncumbentChart(points)
	if e.HasSolution {
		b, err := h.svc.Solution(ctx, e.ID)
		if err == nil {
			d.Solution = newDashDoc("Solution", b, self+"/solution.json")
		} else if job.ErrorCode(err) != job.CodeNotFound {
			return err
		}
	}
	if b, err := h.svc.ExecutionInput(ctx, e.ID); err == nil {
		d.Instance = newDashDoc("Instance", b, self+"/instance.json")
	} else if job.ErrorCode(err) != job.CodeNotFound {
		return err
	}
	title := "Execution " + e.ID
	if e.Name != "" {
		title = e.Name
	}
	h.render(w, r, p, status, "execution", title, d)
	return nil
}

func mapKeys[V any](m map[string]V) iter.Seq[string] {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// prettyJSON indents b for display, cut to dashMaxShownJSON bytes.
func prettyJSON(b []byte) (string, bool) {
	if len(b) > dashMaxShownJSON {
		return "", true
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b), false
	}
	return out.String(), false
}

// history reads the execution's event stream as it stands (Follow, left
// as soon as it has caught up), without its log records, for the state
// timeline and the incumbents' objectives. The stream is capped
// (Config.EventsMaxLen), so a very long run shows its latest events; at
// most dashMaxHistory events are read.
func (h *handler) history(ctx context.Context, e *job.Execution) ([]dashTimelineEntry, []incumbentPoint, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var tl []dashTimelineEntry
	var pts []incumbentPoint
	n := 0
	// The log cursor past any id there can be skips the log stream: only
	// the events stream (status, progress, incumbents) is read.
	const noLog = "0-0,18446744073709551615-18446744073709551615"
	for ev, err := range h.svc.Follow(ctx, e.ID, solvekit.FollowOptions{After: noLog, Idle: time.Millisecond}) {
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return nil, nil, false, err
		}
		if ev.Type == "idle" {
			break
		}
		if n++; n > dashMaxHistory {
			return tl, pts, true, nil
		}
		evID, _, _ := strings.Cut(ev.ID, ",")
		at := streamTime(evID)
		switch ev.Type {
		case "status":
			var st struct {
				State   string `json:"state"`
				Attempt int    `json:"attempt"`
				Reason  string `json:"reason"`
			}
			if json.Unmarshal(ev.Data, &st) != nil || st.State == "" {
				continue
			}
			tl = append(tl, dashTimelineEntry{Time: at, State: st.State, Attempt: st.Attempt, Reason: st.Reason})
			// The final status of the attempt the record shows: the
			// rest is log records, which the page streams by itself.
			if e.State.Terminal() && job.State(st.State) == e.State && st.Attempt == e.Attempt {
				return tl, pts, false, nil
			}
		case "incumbent":
			var inc struct {
				Objective *float64 `json:"objective"`
				Attempt   int      `json:"attempt"`
			}
			if json.Unmarshal(ev.Data, &inc) == nil && inc.Objective != nil {
				pts = append(pts, incumbentPoint{Time: at, Objective: *inc.Objective, Attempt: inc.Attempt})
			}
		}
	}
	return tl, pts, false, nil
}

// streamTime is the time in a Redis stream id ("<ms>-<seq>").
func streamTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// dashLogStream streams the execution's log records, status changes,
// progress and incumbents as Server-Sent Events for the detail page's live
// log, state, progress bar and objective: "log" events carry a LogRecord,
// "status" events the state fields, "progress" {progress, message},
// "incumbent" {objective}, and a final "end" event tells the page to stop
// listening. Each event's id resumes the
// stream (Last-Event-ID), as the API's /events does.
func (h *handler) dashLogStream(w http.ResponseWriter, r *http.Request, p *Principal) error {
	keep := func(t string) bool { return t == "log" || t == "status" || t == "progress" || t == "incumbent" }
	done, err := h.streamExecution(w, r, p, "after", "log stream", keep, same)
	if done {
		fmt.Fprint(w, "event: end\ndata: {}\n\n")
		_ = http.NewResponseController(w).Flush()
	}
	return err
}

// dashDownload serves the solution or instance as a JSON attachment.
func (h *handler) dashDownload(part string) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		e, err := h.execution(r, p, false)
		if err != nil {
			return err
		}
		var b json.RawMessage
		if part == "solution" {
			b, err = h.svc.Solution(r.Context(), e.ID)
		} else {
			b, err = h.svc.ExecutionInput(r.Context(), e.ID)
		}
		if err != nil {
			return err
		}
		hd := w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("Content-Length", strconv.Itoa(len(b)))
		hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": part + "-" + e.ID + ".json"}))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return nil
	}
}

// dashStopOwned is a Stop button's form: load reads the record the path
// names (which p must be allowed to change), stop stops it by its id, and
// the answer is a 303 back to its page under <ui>/section/.
func dashStopOwned[T any](h *handler, load loader[T], id func(*T) string, section string,
	stop func(context.Context, string) error) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		v, err := load(r, p, true)
		if err != nil {
			return err
		}
		if err := stop(r.Context(), id(v)); err != nil {
			return err
		}
		http.Redirect(w, r, h.uiBase(r)+"/"+section+"/"+id(v), http.StatusSeeOther)
		return nil
	}
}

// dashRelaunch relaunches a finished execution, with the config typed in
// the page's editor when there is one (checked against the job type's
// config schema by Service.Relaunch, as POST /executions/{id}/relaunch
// does), else with its config. A refused config shows the page again
// with the violations and what was typed.
func (h *handler) dashRelaunch(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, true)
	if err != nil {
		return err
	}
	req := solvekit.RelaunchRequest{}
	typed := r.PostFormValue("config")
	if c := strings.TrimSpace(typed); c != "" {
		if !json.Valid([]byte(c)) {
			return h.renderExecution(w, r, p, e, http.StatusBadRequest, &dashExecutionData{RelaunchConfig: typed,
				RelaunchError:      "The config is not valid JSON.",
				RelaunchViolations: []job.Violation{{Pointer: "/config", Keyword: "format", Message: "the config must be JSON (or left empty)"}}})
		}
		req.Config = json.RawMessage(c)
	}
	if _, err := h.svc.Relaunch(r.Context(), e.ID, req); err != nil {
		je, ok := errors.AsType[*job.Error](err)
		if !ok || StatusOf(je.Code) >= 500 || je.Code == job.CodeNotFound {
			return err
		}
		return h.renderExecution(w, r, p, e, StatusOf(je.Code), &dashExecutionData{RelaunchConfig: typed,
			RelaunchError: je.Message, RelaunchViolations: je.Violations})
	}
	http.Redirect(w, r, h.uiBase(r)+"/executions/"+e.ID, http.StatusSeeOther)
	return nil
}

// dashCounts answers the service-wide counts by state as JSON
// ({"queued": 3, ...}), which the executions page polls to keep its
// counts current.
func (h *handler) dashCounts(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	counts, err := h.svc.Counts(r.Context())
	if err != nil {
		return err
	}
	out := make(map[job.State]int64, len(job.States))
	for _, st := range job.States {
		out[st] = counts[st]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
