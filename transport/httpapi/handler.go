package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/serviceredis"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi/internal/users"
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

func (a access) allows(r api.Role) bool {
	switch a {
	case accOpen, accAny:
		return true
	case accRead:
		return r.Valid()
	case accWrite:
		return r == api.RolePlanner || r == api.RoleAdmin || r == api.RoleService
	case accOps:
		return r == api.RoleAdmin || r == api.RoleService
	case accAdmin:
		return r == api.RoleAdmin
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
	// headers are the request headers the route reads.
	headers []qparam
	// replay is another success status answered with the same body (200
	// for a repeated POST /executions).
	replay int
	// errs lists the error statuses the route can answer besides the ones
	// errorStatuses derives from its access, path, body and query.
	errs []int
}

// errorStatuses lists, sorted, the 4xx (and documented 5xx) statuses the
// route can answer; the OpenAPI document lists each with the problem
// schema (other 5xx fall under "default").
func (rt *route) errorStatuses() []int {
	set := map[int]bool{}
	if rt.access != accOpen {
		set[http.StatusUnauthorized] = true
		set[http.StatusForbidden] = true
	}
	if strings.Contains(rt.path, "{") {
		set[http.StatusNotFound] = true
	}
	if rt.body != nil || rt.multipart {
		for _, s := range []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity} {
			set[s] = true
		}
	}
	if len(rt.query) > 0 {
		set[http.StatusBadRequest] = true
	}
	for _, s := range rt.errs {
		set[s] = true
	}
	out := make([]int, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (rt *route) pattern() string { return rt.method + " " + rt.path }

type handler struct {
	svc    *solvekit.Service
	users  *users.Store
	opts   Options
	log    *slog.Logger
	mux    *http.ServeMux
	routes []*route
	secret []byte
	// registered lists the patterns given to mux.Handle, in order.
	registered []string
	// dash is the dashboard (Options.Dashboard), nil when off.
	dash *dashboard
}

// MinJWTSecretBytes is the shortest Options.JWTSecret accepted: HS256
// wants a key of at least its 256-bit output.
const MinJWTSecretBytes = 32

// New returns the REST handler of svc. It creates the bootstrap admin (or
// stores the hash of Options.BootstrapToken) when needed, so it talks to
// Redis. With built-in logins on, it fails without Options.JWTSecret
// unless svc runs on the embedded Redis.
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
	if t := opts.BootstrapToken; t != "" && (!strings.HasPrefix(t, "bt_") || len(t) < 35) {
		return nil, errors.New(`httpapi: BootstrapToken must start with "bt_" and be at least 35 characters long (e.g. "bt_" + openssl rand -hex 24)`)
	}
	rdb, prefix := serviceredis.Of(svc)
	h := &handler{svc: svc, users: users.New(rdb, prefix), opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !opts.DisableBuiltinAuth {
		switch {
		case len(opts.JWTSecret) >= MinJWTSecretBytes:
			h.secret = bytes.Clone(opts.JWTSecret)
		case len(opts.JWTSecret) > 0:
			return nil, fmt.Errorf("httpapi: JWTSecret is %d bytes; use at least %d random bytes", len(opts.JWTSecret), MinJWTSecretBytes)
		case svc.Embedded():
			// Nothing outlives the process on the embedded Redis, so a
			// per-process secret loses nothing.
			h.secret = make([]byte, MinJWTSecretBytes)
			if _, err := rand.Read(h.secret); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("httpapi: Options.JWTSecret is required on an external Redis (at least %d random bytes, the same in every process; "+
				"e.g. from an environment variable or a secret store). Only the embedded Redis gets a random per-process secret; "+
				"set DisableBuiltinAuth when an Authenticator does all the authentication", MinJWTSecretBytes)
		}
		if err := h.users.RemoveStoredSigningSecret(ctx); err != nil {
			return nil, fmt.Errorf("httpapi: remove the signing secret solvekit 0.1 kept in Redis: %w", err)
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
	if opts.Dashboard {
		if err := h.mountDashboard(); err != nil {
			return nil, err
		}
	}
	h.mux.HandleFunc("/", h.fallback)
	return h, nil
}

func (h *handler) bootstrap(ctx context.Context) error {
	if b := h.opts.BootstrapAdmin; b != nil {
		if _, err := h.users.GetUserByName(ctx, b.Username); err == nil {
			return nil
		}
		u := &users.User{User: api.User{Username: b.Username, Role: api.RoleAdmin}}
		// Hashing the password (bcrypt) is most of this call and, on a
		// loaded host, may take longer than New's bound for Redis I/O.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := h.users.CreateUser(cctx, u, b.Password); err != nil && !errors.Is(err, errConflict) {
			return fmt.Errorf("httpapi: bootstrap admin: %w", err)
		}
		return nil // a user exists now: no bootstrap token is needed
	}
	n, err := h.users.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("httpapi: count users: %w", err)
	}
	if n > 0 || h.opts.Authenticator != nil {
		return nil
	}
	if h.opts.BootstrapToken == "" {
		h.log.Warn("solvekit/httpapi: no users exist; set Options.BootstrapAdmin, or Options.BootstrapToken and send it as a bearer token to POST /users, to create the first admin")
		return nil
	}
	set, err := h.users.SetBootstrapToken(ctx, h.opts.BootstrapToken, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("httpapi: bootstrap token: %w", err)
	}
	if set {
		h.log.Warn("solvekit/httpapi: no users exist; the configured Options.BootstrapToken creates the first admin (POST /users) for the next 24 hours")
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
	// has such a path: answer 404 like any other unknown path. The
	// dashboard's entry point, "/ui/", is the one path with a trailing slash.
	if p := r.URL.Path; p != "/" && path.Clean(p) != p && (h.dash == nil || p != "/ui/") {
		h.writeError(w, r, notFoundErr("no route %s", p))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// basePath is the path prefix, as the client sent it, in front of the
// routes for r (the request as routed, after Options.Prefix is cut): what
// Location headers, problem instances and the OpenAPI servers entry start
// with. It is Options.Prefix, with in front of it whatever a host's
// http.StripPrefix (or any middleware that shortens URL.Path) removed: the
// part of the request line's path before the path being routed. When the
// two do not line up (a rewriting middleware, odd escaping) it falls back
// to Options.Prefix.
func (h *handler) basePath(r *http.Request) string {
	if r.RequestURI == "" {
		return h.opts.Prefix
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return h.opts.Prefix
	}
	seen, routed := u.EscapedPath(), r.URL.EscapedPath()
	base, ok := strings.CutSuffix(seen, routed)
	if !ok || !cleanBase(base) || !strings.HasSuffix(base, h.opts.Prefix) {
		return h.opts.Prefix
	}
	return base
}

// cleanBase reports whether base is "" or a clean absolute path that is
// safe to echo in a header ("/a/b", never "//host" or "/a/../b").
func cleanBase(base string) bool {
	if base == "" {
		return true
	}
	if base[0] != '/' || strings.HasPrefix(base, "//") || path.Clean(base) != base {
		return false
	}
	for _, c := range []byte(base) {
		if c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '\\' {
			return false
		}
	}
	return true
}

// requestPath is r's path as the client sent it (for problem instances).
func (h *handler) requestPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		if p := u.EscapedPath(); cleanBase(p) || p == "/" {
			return p
		}
	}
	return h.basePath(r) + r.URL.EscapedPath()
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

// executionIDPattern matches every execution id solvekit makes or takes:
// a generated UUID, a caller's chosen id (SubmitRequest.ID: 1 to 64
// letters, digits, '-', '_' or '.') and a schedule tick's "<schedule
// id>-<Unix seconds>".
var executionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// pathID returns the {id} path value, refusing anything that is not an id
// solvekit makes (so no odd key ever reaches Redis). A UUID is taken in
// either case (solvekit's are lower case); an execution's id may also be
// one its submitter chose or a schedule made, taken exactly as written.
func pathID(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if uuidPattern.MatchString(id) {
		return strings.ToLower(id), nil
	}
	if what == "execution" && validExecutionID(id) {
		return id, nil
	}
	return "", notFoundErr("%s %q not found", what, id)
}

// validExecutionID reports whether id can name an execution.
func validExecutionID(id string) bool {
	return executionIDPattern.MatchString(id) && id != "." && id != ".."
}

// byPath reads with get the record the path's {id} names; an id that is
// not a UUID is a 404 for what, as an unknown one is.
func byPath[T any](r *http.Request, what string, get func(context.Context, string) (T, error)) (T, error) {
	id, err := pathID(r, what)
	if err != nil {
		var zero T
		return zero, err
	}
	return get(r.Context(), id)
}

// ownedByPath reads the resource the path's {what} names with get and
// checks that p may see it (404 otherwise) and, when write, change it
// (403); ids returns its id and owner.
func ownedByPath[T any](h *handler, r *http.Request, p *Principal, write bool, what string,
	get func(context.Context, string) (*T, error), ids func(*T) (id, owner string)) (*T, error) {
	v, err := byPath(r, what, get)
	if err != nil {
		return nil, err
	}
	id, owner := ids(v)
	if err := h.checkAccess(p, what, id, owner, write); err != nil {
		return nil, err
	}
	return v, nil
}

// checkAccess checks that p may see the record what id of owner (404
// otherwise) and, when write, change it (403).
func (h *handler) checkAccess(p *Principal, what, id, owner string, write bool) error {
	if !h.canSee(p, owner) {
		return notFoundErr("%s %q not found", what, id)
	}
	if write && !h.canChange(p, owner) {
		return forbidden("%s %q belongs to another user", what, id)
	}
	return nil
}

// loader loads the record the path names and checks that p may see it
// (and change it when write), as h.execution does.
type loader[T any] func(r *http.Request, p *Principal, write bool) (*T, error)

// showOwned answers 200 with the record the path names, which p must see.
func showOwned[T any](load loader[T]) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		v, err := load(r, p, false)
		return okJSON(w, v, err)
	}
}

// withBody reads the request's JSON body into a new B with decode
// (h.decodeBody, or h.decodeOptionalBody where it may be absent) and then
// loads the record the path names: a bad body answers before a missing or
// foreign record.
func withBody[B, T any](r *http.Request, p *Principal, decode func(*http.Request, any) error, load loader[T], write bool) (*B, *T, error) {
	req := new(B)
	if err := decode(r, req); err != nil {
		return nil, nil, err
	}
	v, err := load(r, p, write)
	if err != nil {
		return nil, nil, err
	}
	return req, v, nil
}

// patchOwned reads a PATCH of the record the path names: its update_mask
// and body (decodePatch), then the record, which p must be allowed to
// change.
func patchOwned[B, T any](h *handler, r *http.Request, p *Principal, load loader[T], allowed ...string) (*B, fieldMask, *T, error) {
	req, mask, err := decodePatch[B](h, r, allowed...)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := load(r, p, true)
	if err != nil {
		return nil, nil, nil, err
	}
	return req, mask, v, nil
}

// deleteOwned answers a DELETE: load reads the resource the path names
// (checking that p may change it) and remove removes it by its id.
func deleteOwned[T any](w http.ResponseWriter, r *http.Request, p *Principal, load loader[T],
	id func(*T) string, remove func(context.Context, string) error) error {
	v, err := load(r, p, true)
	if err != nil {
		return err
	}
	return noContent(w, remove(r.Context(), id(v)))
}

// listOfExecution answers with the list of what list returns for the
// execution the path names (which p must see), wrapped by wrap.
func listOfExecution[T, L any](h *handler, w http.ResponseWriter, r *http.Request, p *Principal,
	list func(context.Context, string) ([]T, error), wrap func(items []T, total int64) L) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	items, err := list(r.Context(), e.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wrap(items, int64(len(items))))
	return nil
}
