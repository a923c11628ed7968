package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/solvekit/solvekit/transport/api"
)

// Authenticator lets a host application authenticate requests with its own
// sessions or tokens. Return (nil, nil) when the request carries nothing
// the authenticator recognises: the built-in credentials (JWT, API key,
// job key) are tried next. Return an error to refuse the request with 401.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Principal, error) { return f(r) }

// BootstrapAdmin is an admin account created at start when it does not
// exist yet.
type BootstrapAdmin struct {
	Username string
	Password string
}

// Principal is who a request acts for: what an Authenticator returns and
// what GET /token shows. It is the wire type api.Principal.
type Principal = api.Principal

// Options configures the handler. The zero value is usable on the
// embedded Redis (built-in users, a random per-process signing secret, no
// signup, no CORS); on any other Redis, built-in logins need JWTSecret.
type Options struct {
	// Prefix is the path the handler is mounted at when it is not
	// stripped by the host (e.g. "/api/v1"). Empty when the host uses
	// http.StripPrefix or mounts the handler at the root.
	Prefix string
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxFileBytes caps the total size of one execution's files. Default
	// 16 MiB (also bounded by MaxUploadBytes per request).
	MaxFileBytes int64
	// MaxUploadBytes caps multipart uploads (instances, files). Default 32 MiB.
	MaxUploadBytes int64

	// JWTSecret signs and checks login tokens (HS256); at least 32 bytes,
	// the same in every process serving the API. Take it from your
	// configuration or secret store, never from Redis: whoever holds it
	// can mint admin tokens. It is required unless the service runs on
	// the embedded Redis (Service.Embedded: no Redis configured) or
	// DisableBuiltinAuth is set; New fails without it. On the embedded
	// Redis an empty JWTSecret means a random per-process secret, so
	// tokens do not survive a restart (nor does anything else there).
	// Changing it signs every user out.
	JWTSecret []byte
	// JWTIssuer is the iss claim issued and required. Default "solvekit".
	JWTIssuer string
	// TokenTTL is how long a login token lives. Default 24h.
	TokenTTL time.Duration

	// AllowSignup opens POST /signup, creating accounts with SignupRole.
	AllowSignup bool
	// SignupRole is the role of signed-up accounts. Default planner.
	SignupRole api.Role
	// Sharing lets planners see (not change) other planners' instances
	// and executions.
	Sharing bool
	// PlannerQueues lists queues planners may name in POST /executions
	// besides the job type's own. Admins and service callers may name
	// any configured queue (Service.Queues); planners by default only
	// their job type's, so they cannot jump ahead of others.
	PlannerQueues []string
	// CORSOrigins lists origins allowed to call the API from a browser
	// ("*" for any). Empty disables CORS headers.
	CORSOrigins []string

	// Authenticator is the host application's own authentication, tried
	// before the built-in credentials.
	Authenticator Authenticator
	// DisableBuiltinAuth turns off JWT, API keys and the user routes'
	// logins (job keys still work); use with an Authenticator.
	DisableBuiltinAuth bool

	// BootstrapAdmin is created at start if its username is not taken.
	BootstrapAdmin *BootstrapAdmin
	// BootstrapToken is a one-time token, chosen by the operator (e.g.
	// "bt_" followed by `openssl rand -hex 24`), that creates the first
	// admin: send it as a bearer token to POST /users. When it is set and
	// no user exists at start, its SHA-256 hash is stored for 24 hours;
	// the first admin created with it uses it up, atomically, so
	// concurrent requests create one admin at most. It must start with
	// "bt_" and be at least 35 characters long. solvekit never logs it.
	BootstrapToken string

	// LoginAttempts is how many failed logins per username and client IP
	// are allowed per LoginWindow before 429. Default 5 per minute.
	LoginAttempts int
	// LoginWindow is the throttling window. Default 1 minute.
	LoginWindow time.Duration

	// MaxWait caps the ?wait= long poll of POST /executions and GET
	// /executions/{id}. Default 5m.
	MaxWait time.Duration

	// Dashboard serves a web dashboard under <Prefix>/ui/: server-rendered
	// pages whose assets are embedded (no CDN). Executions with filters and
	// state counts; an execution's timeline, incumbent chart, live log,
	// solution and instance, stop and relaunch with a config editor; job
	// types with a submit form (pasted JSON or a file) and pause/resume;
	// experiments with their aggregates, baseline comparison, charts,
	// results (and CSV) and a stop button; queues with pause/resume,
	// workers and users for admins. It
	// authenticates as the API does: the host Authenticator, or for
	// built-in users a login form that keeps the API's token in an
	// HttpOnly, SameSite=Strict cookie. Roles and ownership apply as in the
	// API; every form carries a CSRF token. See docs/dashboard.md. Default
	// false.
	Dashboard bool

	// Logger receives the handler's logs (never a credential).
	// Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 16 << 20
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 32 << 20
	}
	if o.JWTIssuer == "" {
		o.JWTIssuer = "solvekit"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.SignupRole == "" {
		o.SignupRole = api.RolePlanner
	}
	if o.LoginAttempts <= 0 {
		o.LoginAttempts = 5
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = time.Minute
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}
