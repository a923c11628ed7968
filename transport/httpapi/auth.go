package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/store"
)

var errConflict = job.ErrConflict

func notFoundErr(format string, args ...any) error {
	return job.Errorf(job.CodeNotFound, format, args...)
}
func forbidden(format string, args ...any) error {
	return job.Errorf(job.CodeForbidden, format, args...)
}
func unauthorized(format string, args ...any) error {
	return job.Errorf(job.CodeUnauthorized, format, args...)
}

// claims are the JWT claims solvekit issues.
type claims struct {
	jwt.RegisteredClaims
	Username string `json:"username,omitempty"`
	// TV is the user's token version; a password change invalidates
	// older tokens.
	TV int `json:"tv"`
}

func (h *handler) issueToken(u *store.User) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(h.opts.TokenTTL)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: u.ID, Issuer: h.opts.JWTIssuer,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Username: u.Username, TV: u.TokenVersion,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(h.secret)
	return s, exp.UTC().Truncate(time.Second), err
}

func (h *handler) parseToken(ctx context.Context, tok string) (*Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return h.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(h.opts.JWTIssuer), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return nil, unauthorized("invalid token: %v", err)
	}
	u, err := h.users.GetUser(ctx, c.Subject)
	if err != nil || u.Disabled || u.TokenVersion != c.TV {
		if err != nil && job.ErrorCode(err) != job.CodeNotFound {
			return nil, err
		}
		return nil, unauthorized("invalid token: the account is gone, disabled or its password changed")
	}
	exp := c.ExpiresAt.Time.UTC()
	return &Principal{ID: u.ID, Username: u.Username, Role: Role(u.Role), Source: "jwt", ExpiresAt: &exp}, nil
}

// credential returns the bearer token or key the request carries.
func credential(r *http.Request) string {
	if v := r.Header.Get("X-Job-Key"); v != "" {
		return strings.TrimSpace(v)
	}
	if v := r.Header.Get("X-API-Key"); v != "" {
		return strings.TrimSpace(v)
	}
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// authenticate finds the principal: the host Authenticator first, then a
// job key, API key, bootstrap token or JWT.
func (h *handler) authenticate(rt *route, r *http.Request) (*Principal, error) {
	if a := h.opts.Authenticator; a != nil {
		p, err := a.Authenticate(r)
		if err != nil {
			var je *job.Error
			if errors.As(err, &je) {
				return nil, err
			}
			return nil, unauthorized("%v", err)
		}
		if p != nil {
			if !p.Role.Valid() {
				return nil, forbidden("principal %q has no valid role", p.ID)
			}
			if p.Source == "" || p.Source == "job_key" || p.Source == "bootstrap" {
				p.Source = "host"
			}
			return p, nil
		}
	}
	tok := credential(r)
	ctx := r.Context()
	switch {
	case tok == "":
		return nil, unauthorized("credentials required: send Authorization: Bearer <token>")
	case strings.HasPrefix(tok, store.JobKeyPrefix):
		id := r.PathValue("id")
		if !rt.jobKey || !uuidPattern.MatchString(id) {
			return nil, forbidden("a job key only grants access to its own execution")
		}
		id = strings.ToLower(id)
		ok, err := h.st.CheckJobKey(ctx, id, tok)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, unauthorized("invalid job key for execution %q", id)
		}
		return &Principal{ID: "job:" + id, Source: "job_key", ExecutionID: id}, nil
	case h.opts.DisableBuiltinAuth:
		return nil, unauthorized("invalid credentials")
	case strings.HasPrefix(tok, store.APIKeyPrefix):
		k, err := h.st.LookupAPIKey(ctx, tok)
		if err != nil {
			return nil, err
		}
		u, err := h.users.GetUser(ctx, k.UserID)
		if err != nil || u.Disabled {
			return nil, unauthorized("invalid API key")
		}
		return &Principal{ID: u.ID, Username: u.Username, Role: Role(u.Role), Source: "api_key"}, nil
	case strings.HasPrefix(tok, "bt_"):
		ok, err := h.users.CheckBootstrapToken(ctx, tok)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, unauthorized("invalid or used bootstrap token")
		}
		return &Principal{ID: "bootstrap", Username: "bootstrap", Role: RoleAdmin, Source: "bootstrap"}, nil
	}
	return h.parseToken(ctx, tok)
}

// --- request and response bodies ---

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

func userOut(u *store.User) *User {
	return &User{ID: u.ID, Username: u.Username, Email: u.Email, Role: Role(u.Role), Disabled: u.Disabled,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
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
type APIKey = store.APIKey

// APIKeyCreated is the answer of POST /apiKeys: the only time the secret
// is shown.
type APIKeyCreated struct {
	*store.APIKey
	Key string `json:"key"`
}

// APIKeyList is a page of API keys.
type APIKeyList struct {
	APIKeys      []*store.APIKey `json:"api_keys"`
	TotalEntries int64           `json:"total_entries"`
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// --- handlers ---

func (h *handler) login(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	if h.opts.DisableBuiltinAuth {
		return notFoundErr("built-in logins are disabled")
	}
	var req LoginRequest
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	subject := strings.ToLower(req.Username) + "|" + clientIP(r)
	n, ttl, err := h.users.LoginFailures(ctx, subject)
	if err != nil {
		return err
	}
	if n >= int64(h.opts.LoginAttempts) {
		secs := int(ttl.Seconds() + 0.999)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		return job.Errorf(job.CodeTooMany, "too many failed logins; retry in %d s", secs)
	}
	u, err := h.users.CheckPassword(ctx, req.Username, req.Password)
	if err != nil {
		if job.ErrorCode(err) == job.CodeUnauthorized {
			if err := h.users.RecordLoginFailure(ctx, subject, h.opts.LoginWindow); err != nil {
				return err
			}
		}
		return err
	}
	_ = h.users.ResetLoginFailures(ctx, subject)
	tok, exp, err := h.issueToken(u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp, User: userOut(u)})
	return nil
}

func (h *handler) signup(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var req SignupRequest
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	u := &store.User{Username: req.Username, Email: req.Email, Role: string(h.opts.SignupRole)}
	if err := h.users.CreateUser(r.Context(), u, req.Password); err != nil {
		return err
	}
	tok, exp, err := h.issueToken(u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp, User: userOut(u)})
	return nil
}

func (h *handler) tokenInfo(w http.ResponseWriter, _ *http.Request, p *Principal) error {
	writeJSON(w, http.StatusOK, TokenInfo{Valid: true, Principal: p})
	return nil
}

func (h *handler) currentUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Source == "jwt" || p.Source == "api_key" {
		u, err := h.users.GetUser(r.Context(), p.ID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, userOut(u))
		return nil
	}
	writeJSON(w, http.StatusOK, &User{ID: p.ID, Username: p.Username, Role: p.Role})
	return nil
}

func (h *handler) changePassword(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Source != "jwt" && p.Source != "api_key" {
		return forbidden("only built-in users have a password here")
	}
	var req PasswordChange
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.users.CheckPassword(ctx, p.Username, req.CurrentPassword); err != nil {
		if job.ErrorCode(err) == job.CodeUnauthorized {
			return &job.Error{Code: job.CodeForbidden, Message: "current password is wrong"}
		}
		return err
	}
	if err := h.users.SetPassword(ctx, p.ID, req.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	us, total, err := h.users.ListUsers(r.Context(), store.Page{Limit: pg.limit, Offset: pg.offset})
	if err != nil {
		return err
	}
	out := UserList{Users: []*User{}, TotalEntries: total}
	for _, u := range us {
		out.Users = append(out.Users, userOut(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) createUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req UserCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	if p.Source == "bootstrap" && req.Role != RoleAdmin {
		return &job.Error{Code: job.CodeInvalid, Message: "the bootstrap token creates an admin",
			Violations: []job.Violation{{Pointer: "/role", Keyword: "const", Message: "must be admin"}}}
	}
	u := &store.User{Username: req.Username, Email: req.Email, Role: string(req.Role)}
	if err := h.users.CreateUser(r.Context(), u, req.Password); err != nil {
		return err
	}
	if p.Source == "bootstrap" {
		_ = h.users.ConsumeBootstrapToken(r.Context())
	}
	w.Header().Set("Location", h.opts.Prefix+"/users/"+u.ID)
	writeJSON(w, http.StatusCreated, userOut(u))
	return nil
}

func (h *handler) getUser(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	u, err := h.users.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (h *handler) patchUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	mask, err := updateMask(r, "username", "email", "role", "disabled", "password")
	if err != nil {
		return err
	}
	var req UserPatch
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.users.GetUser(ctx, id)
	if err != nil {
		return err
	}
	use := func(name string, present bool) bool { return (mask == nil && present) || mask[name] }
	missing := func(name string) error {
		return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("update_mask names %q but the body lacks it", name),
			Violations: []job.Violation{{Pointer: "/" + name, Keyword: "required", Message: "named in update_mask"}}}
	}
	if use("username", req.Username != nil) {
		if req.Username == nil {
			return missing("username")
		}
		u.Username = *req.Username
	}
	if use("email", req.Email != nil) {
		if req.Email == nil {
			return missing("email")
		}
		u.Email = *req.Email
	}
	if use("role", req.Role != nil) {
		if req.Role == nil {
			return missing("role")
		}
		if id == p.ID && *req.Role != RoleAdmin {
			return job.Errorf(job.CodeConflict, "an admin cannot demote itself")
		}
		u.Role = string(*req.Role)
	}
	if use("disabled", req.Disabled != nil) {
		if req.Disabled == nil {
			return missing("disabled")
		}
		if id == p.ID && *req.Disabled {
			return job.Errorf(job.CodeConflict, "an admin cannot disable itself")
		}
		u.Disabled = *req.Disabled
	}
	if use("password", req.Password != nil) && req.Password == nil {
		return missing("password")
	}
	if err := h.users.UpdateUser(ctx, u); err != nil {
		return err
	}
	if use("password", req.Password != nil) {
		if err := h.users.SetPassword(ctx, id, *req.Password); err != nil {
			return err
		}
	}
	if u, err = h.users.GetUser(ctx, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	if id == p.ID {
		return job.Errorf(job.CodeConflict, "an admin cannot delete itself")
	}
	if err := h.users.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) createAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Source != "jwt" && p.Source != "api_key" && p.Role != RoleAdmin {
		return forbidden("API keys belong to built-in users")
	}
	var req APIKeyCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	uid := p.ID
	if req.UserID != "" && !strings.EqualFold(req.UserID, p.ID) {
		if p.Role != RoleAdmin {
			return forbidden("only admins create keys for other users")
		}
		uid = strings.ToLower(req.UserID)
	}
	if _, err := h.users.GetUser(r.Context(), uid); err != nil {
		if job.ErrorCode(err) == job.CodeNotFound {
			return &job.Error{Code: job.CodeInvalid, Message: "no such user",
				Violations: []job.Violation{{Pointer: "/user_id", Keyword: "exists", Message: "no such user"}}}
		}
		return err
	}
	k := &store.APIKey{Name: req.Name, UserID: uid}
	secret, err := h.st.CreateAPIKey(r.Context(), k)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, APIKeyCreated{APIKey: k, Key: secret})
	return nil
}

func (h *handler) listAPIKeys(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	uid := p.ID
	if p.Role == RoleAdmin {
		uid = r.URL.Query().Get("user_id")
	}
	ks, total, err := h.st.ListAPIKeys(r.Context(), uid, store.Page{Limit: pg.limit, Offset: pg.offset})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, APIKeyList{APIKeys: ks, TotalEntries: total})
	return nil
}

func (h *handler) deleteAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id, err := pathID(r, "API key")
	if err != nil {
		return err
	}
	k, err := h.st.GetAPIKey(r.Context(), id)
	if err != nil {
		return err
	}
	if k.UserID != p.ID && p.Role != RoleAdmin {
		return notFoundErr("API key %q not found", id)
	}
	if err := h.st.DeleteAPIKey(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
