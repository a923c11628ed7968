package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/store"
)

// access says who may call a route (before object ownership checks).
type access int

const (
	accOpen  access = iota // no credentials
	accAny                 // any authenticated principal except job keys
	accRead                // viewer, planner, admin, service
	accWrite               // planner, admin, service
	accOps                 // admin, service
	accAdmin               // admin
)

func (a access) allows(r Role) bool {
	switch a {
	case accOpen, accAny:
		return true
	case accRead:
		return r.Valid()
	case accWrite:
		return r == RolePlanner || r == RoleAdmin || r == RoleService
	case accOps:
		return r == RoleAdmin || r == RoleService
	case accAdmin:
		return r == RoleAdmin
	}
	return false
}

func (a access) String() string {
	return [...]string{"none", "any", "viewer, planner, admin, service", "planner, admin, service", "admin, service", "admin"}[a]
}

// qparam documents one query parameter.
type qparam struct {
	name, typ, desc string
}

// route is one entry of the route table: it registers the handler and
// describes the operation in the OpenAPI document.
type route struct {
	method, path string
	op, summary  string
	tag          string
	access       access
	// jobKey lets a job key holder call the route for its execution.
	jobKey bool
	// bootstrap lets the one-time bootstrap token call the route.
	bootstrap bool
	handle    func(w http.ResponseWriter, r *http.Request, p *Principal) error
	// body is a pointer to the request body type (nil: none).
	body any
	// multipart: the route also accepts multipart/form-data uploads.
	multipart bool
	// status is the success status; resp a value of the success body type
	// (nil with 204). kind is "json", "sse", "binary" or "any-json".
	status int
	resp   any
	kind   string
	query  []qparam
}

func (rt *route) pattern() string { return rt.method + " " + rt.path }

type handler struct {
	svc    *solvekit.Service
	st     *store.Store
	users  *store.UserStore
	opts   Options
	log    *slog.Logger
	mux    *http.ServeMux
	routes []*route
	secret []byte
	// registered lists the patterns given to mux.Handle, in order.
	registered []string
}

// New returns the REST handler of svc. It creates the bootstrap admin (or
// logs a one-time bootstrap token) when needed, so it talks to Redis.
func New(svc *solvekit.Service, opts Options) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("httpapi: nil service")
	}
	opts.setDefaults()
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	if opts.Prefix != "" && !strings.HasPrefix(opts.Prefix, "/") {
		return nil, fmt.Errorf("httpapi: Prefix %q must start with '/'", opts.Prefix)
	}
	if opts.SignupRole != "" && !opts.SignupRole.Valid() {
		return nil, fmt.Errorf("httpapi: unknown SignupRole %q", opts.SignupRole)
	}
	h := &handler{svc: svc, st: svc.Store(), users: svc.Store().Users(), opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.secret = opts.JWTSecret
	if !opts.DisableBuiltinAuth {
		if len(h.secret) == 0 {
			s, err := h.users.SigningSecret(ctx)
			if err != nil {
				return nil, fmt.Errorf("httpapi: signing secret: %w", err)
			}
			h.secret = s
		}
		if err := h.bootstrap(ctx); err != nil {
			return nil, err
		}
	}
	h.routes = h.routeTable()
	for _, rt := range h.routes {
		h.mux.Handle(rt.pattern(), h.wrap(rt))
		h.registered = append(h.registered, rt.pattern())
	}
	h.mux.HandleFunc("/", h.fallback)
	return h, nil
}

func (h *handler) bootstrap(ctx context.Context) error {
	if b := h.opts.BootstrapAdmin; b != nil {
		if _, err := h.users.GetUserByName(ctx, b.Username); err == nil {
			return nil
		}
		u := &store.User{Username: b.Username, Role: string(RoleAdmin)}
		if err := h.users.CreateUser(ctx, u, b.Password); err != nil && !errors.Is(err, errConflict) {
			return fmt.Errorf("httpapi: bootstrap admin: %w", err)
		}
		return nil
	}
	n, err := h.users.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("httpapi: count users: %w", err)
	}
	if n > 0 || h.opts.Authenticator != nil {
		return nil
	}
	tok, created, err := h.users.CreateBootstrapToken(ctx, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("httpapi: bootstrap token: %w", err)
	}
	if created {
		h.log.Warn("solvekit: no users exist; create the first admin with this one-time token (valid 24h): "+
			`curl -X POST -H "Authorization: Bearer `+tok+`" -H "Content-Type: application/json" -d '{"username":"admin","password":"...","role":"admin"}' <base>/users`,
			"bootstrap_token", tok)
	}
	return nil
}

// ServeHTTP applies CORS, the prefix and panic recovery, then routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("solvekit/httpapi: panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			h.writeError(w, r, fmt.Errorf("panic: %v", v))
		}
	}()
	if h.cors(w, r) {
		return
	}
	if p := h.opts.Prefix; p != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, p)
		if !ok || (rest != "" && rest[0] != '/') {
			h.writeError(w, r, notFoundErr("no route %s", r.URL.Path))
			return
		}
		if rest == "" {
			rest = "/"
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = rest
		u.RawPath = ""
		r2.URL = &u
		r = r2
	}
	// The standard mux answers a non-canonical path ("/a/../b", "//x",
	// "/x/.") with a redirect whose Location is built from the path it
	// sees, which is wrong under a prefix or http.StripPrefix. No route
	// has such a path: answer 404 like any other unknown path.
	if p := r.URL.Path; p != "/" && path.Clean(p) != p {
		h.writeError(w, r, notFoundErr("no route %s", p))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// cors handles CORS headers and answers preflights; it reports whether the
// request was fully answered.
func (h *handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(h.opts.CORSOrigins) == 0 {
		return false
	}
	allowed := false
	for _, o := range h.opts.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			allowed = true
		}
	}
	if !allowed {
		return false
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Expose-Headers", "Location, Retry-After")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Job-Key, Last-Event-ID")
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// fallback answers unknown paths with 404 and known paths with a wrong
// method with 405, both as problem+json.
func (h *handler) fallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := h.mux.Handler(r2); pat != "" && pat != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.writeError(w, r, statusErr(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	h.writeError(w, r, notFoundErr("no route %s", r.URL.Path))
}

// wrap authenticates, authorizes, limits the body and calls the route.
func (h *handler) wrap(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := h.opts.MaxBodyBytes
		if rt.multipart && strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/") {
			limit = h.opts.MaxUploadBytes
		}
		if r.ContentLength > limit {
			h.writeError(w, r, &http.MaxBytesError{Limit: limit})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		var p *Principal
		if rt.access != accOpen {
			var err error
			p, err = h.authenticate(rt, r)
			if err == nil {
				err = h.authorize(rt, r, p)
			}
			if err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		if err := rt.handle(w, r, p); err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *handler) authorize(rt *route, r *http.Request, p *Principal) error {
	switch p.Source {
	case "job_key":
		if rt.jobKey && r.PathValue("id") == p.ExecutionID {
			return nil
		}
		return forbidden("a job key only grants access to its own execution")
	case "bootstrap":
		if rt.bootstrap {
			return nil
		}
		return forbidden("the bootstrap token only creates the first admin (POST /users)")
	}
	if !rt.access.allows(p.Role) {
		return forbidden("role %q may not %s %s (allowed: %s)", p.Role, rt.method, rt.path, rt.access)
	}
	return nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// pathID returns the {id} path value, refusing anything that is not an id
// solvekit makes (so no odd key ever reaches Redis).
func pathID(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if !uuidPattern.MatchString(id) {
		return "", notFoundErr("%s %q not found", what, id)
	}
	return strings.ToLower(id), nil
}
