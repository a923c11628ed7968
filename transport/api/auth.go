package api

import "time"

// LoginRequest is the body of POST /login.
type LoginRequest struct {
	Username string `json:"username" validate:"required,max=64"`
	Password string `json:"password" validate:"required,max=72"`
}

// TokenResponse is a login's answer.
type TokenResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	ExpiresAt time.Time `json:"expires_at"`
	User      *User     `json:"user"`
}

// SignupRequest is the body of POST /signup.
type SignupRequest struct {
	Username string `json:"username" validate:"required,max=64"`
	Password string `json:"password" validate:"required,min=8,max=72"`
	Email    string `json:"email,omitempty" validate:"omitempty,email,max=254"`
}

// User is a built-in account as the API shows it.
type User struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email,omitempty"`
	Role      Role      `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UserCreate is the body of POST /users.
type UserCreate struct {
	Username string `json:"username" validate:"required,max=64"`
	Password string `json:"password" validate:"required,min=8,max=72"`
	Email    string `json:"email,omitempty" validate:"omitempty,email,max=254"`
	Role     Role   `json:"role" validate:"required,oneof=viewer planner admin service"`
}

// UserPatch is the body of PATCH /users/{id}; update_mask names the
// fields to change (default: those present).
type UserPatch struct {
	Username *string `json:"username,omitempty" validate:"omitempty,max=64"`
	Email    *string `json:"email,omitempty" validate:"omitempty,max=254"`
	Role     *Role   `json:"role,omitempty" validate:"omitempty,oneof=viewer planner admin service"`
	Disabled *bool   `json:"disabled,omitempty"`
	Password *string `json:"password,omitempty" validate:"omitempty,min=8,max=72"`
}

// UserList is a page of users.
type UserList struct {
	Users        []*User `json:"users"`
	TotalEntries int64   `json:"total_entries"`
}

// PasswordChange is the body of PUT /user/password.
type PasswordChange struct {
	CurrentPassword string `json:"current_password" validate:"required,max=72"`
	NewPassword     string `json:"new_password" validate:"required,min=8,max=72"`
}

// TokenInfo is the answer of GET /token and GET /user.
type TokenInfo struct {
	Valid     bool       `json:"valid"`
	Principal *Principal `json:"principal"`
}

// APIKeyCreate is the body of POST /apiKeys.
type APIKeyCreate struct {
	Name string `json:"name,omitempty" validate:"max=128"`
	// UserID creates the key for another user (admin only).
	UserID string `json:"user_id,omitempty" validate:"omitempty,uuid"`
}

// APIKey is an API key as listed (without its secret).
type APIKey struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id"`
	// Prefix is the start of the secret, to recognise a key in listings.
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// APIKeyCreated is the answer of POST /apiKeys: the only time the secret
// is shown.
type APIKeyCreated struct {
	*APIKey
	Key string `json:"key"`
}

// APIKeyList is a page of API keys.
type APIKeyList struct {
	APIKeys      []*APIKey `json:"api_keys"`
	TotalEntries int64     `json:"total_entries"`
}

// Role is what a principal may do.
type Role string

// Roles, from least to most privileged; service sits beside admin.
const (
	// RoleViewer reads job types, instances and executions (all of them:
	// a read-only account for dashboards and audits).
	RoleViewer Role = "viewer"
	// RolePlanner creates instances and executions and manages its own;
	// it sees other planners' objects only when the handler's
	// httpapi.Options.Sharing is on, and can never change them.
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
