package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// Role is what a principal may do.
type Role string

// Roles, from least to most privileged; service sits beside admin.
const (
	// RoleViewer reads job types, instances and executions (all of them:
	// a read-only account for dashboards and audits).
	RoleViewer Role = "viewer"
	// RolePlanner creates instances and executions and manages its own;
	// it sees other planners' objects only when Options.Sharing is on,
	// and can never change them.
	RolePlanner Role = "planner"
	// RoleAdmin may do everything, including users, job type pausing,
	// queue pausing and cleanup.
	RoleAdmin Role = "admin"
	// RoleService is for workers and automation: it reads and writes every
	// instance and execution and reads queues and workers, but manages no
	// users and pauses nothing.
	RoleService Role = "service"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleViewer, RolePlanner, RoleAdmin, RoleService:
		return true
	}
	return false
}

// Principal is who a request acts for.
type Principal struct {
	// ID identifies the principal; objects it creates are owned by it.
	ID string `json:"id"`
	// Username is a display name.
	Username string `json:"username,omitempty"`
	// Role decides what the principal may do.
	Role Role `json:"role"`
	// Source says how it authenticated: "jwt", "api_key", "job_key",
	// "bootstrap" or "host" (the host application's Authenticator).
	Source string `json:"source"`
	// ExecutionID is set for a job key: the one execution it grants.
	ExecutionID string `json:"execution_id,omitempty"`
	// ExpiresAt is when a JWT expires.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

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

// Options configures the handler. The zero value is usable: built-in
// users with a signing secret shared through Redis, no signup, no CORS.
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

	// JWTSecret signs and checks tokens (HS256). Empty: a random secret
	// is created once and shared through Redis by every process.
	JWTSecret []byte
	// JWTIssuer is the iss claim issued and required. Default "solvekit".
	JWTIssuer string
	// TokenTTL is how long a login token lives. Default 24h.
	TokenTTL time.Duration

	// AllowSignup opens POST /signup, creating accounts with SignupRole.
	AllowSignup bool
	// SignupRole is the role of signed-up accounts. Default planner.
	SignupRole Role
	// Sharing lets planners see (not change) other planners' instances
	// and executions.
	Sharing bool
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
	// When it is nil and no user exists, a one-time bootstrap token is
	// logged at start instead: send it as a bearer token to POST /users
	// to create the first admin (it is valid for 24 hours).
	BootstrapAdmin *BootstrapAdmin

	// LoginAttempts is how many failed logins per username and client IP
	// are allowed per LoginWindow before 429. Default 5 per minute.
	LoginAttempts int
	// LoginWindow is the throttling window. Default 1 minute.
	LoginWindow time.Duration

	// MaxWait caps the ?wait= long-poll of POST /executions. Default 5m.
	MaxWait time.Duration

	// Logger receives the handler's logs (and the bootstrap token).
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
		o.SignupRole = RolePlanner
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
