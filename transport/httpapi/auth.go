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
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi/internal/users"
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

func (h *handler) issueToken(u *users.User) (string, time.Time, error) {
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
	return &Principal{ID: u.ID, Username: u.Username, Role: api.Role(u.Role), Source: "jwt", ExpiresAt: &exp}, nil
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
			if _, ok := errors.AsType[*job.Error](err); ok {
				return nil, err
			}
			return nil, unauthorized("%v", err)
		}
		if p != nil {
			if strings.TrimSpace(p.ID) == "" {
				// An empty ID would own nothing and match every owner
				// filter left empty: refuse rather than widen access.
				return nil, fmt.Errorf("httpapi: the Authenticator returned a principal without an ID (username %q, role %q); "+
					"refusing the request: every principal needs the ID that owns its objects", p.Username, p.Role)
			}
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
	case strings.HasPrefix(tok, users.JobKeyPrefix):
		if !rt.jobKey {
			return nil, forbidden("a job key only grants access to its own execution")
		}
		id, err := pathID(r, "execution")
		if err != nil {
			return nil, forbidden("a job key only grants access to its own execution")
		}
		ok, err := h.svc.CheckJobKey(ctx, id, tok)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, unauthorized("invalid job key for execution %q", id)
		}
		return &Principal{ID: "job:" + id, Source: "job_key", ExecutionID: id}, nil
	case h.opts.DisableBuiltinAuth:
		return nil, unauthorized("invalid credentials")
	case strings.HasPrefix(tok, users.APIKeyPrefix):
		_, u, err := h.users.LookupAPIKey(ctx, tok)
		if err != nil {
			return nil, err
		}
		if u == nil || u.Disabled {
			return nil, unauthorized("invalid API key")
		}
		return &Principal{ID: u.ID, Username: u.Username, Role: api.Role(u.Role), Source: "api_key"}, nil
	case strings.HasPrefix(tok, "bt_"):
		ok, err := h.users.CheckBootstrapToken(ctx, tok)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, unauthorized("invalid or used bootstrap token")
		}
		// createUser uses the token up atomically with the admin it makes.
		return &Principal{ID: "bootstrap", Username: "bootstrap", Role: api.RoleAdmin, Source: "bootstrap"}, nil
	}
	return h.parseToken(ctx, tok)
}

// --- request and response bodies ---

func userOut(u *users.User) *api.User { return &u.User }

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
	var req api.LoginRequest
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	u, err := h.checkLogin(w, r, req.Username, req.Password)
	if err != nil {
		return err
	}
	return h.answerToken(w, http.StatusOK, u)
}

// checkLogin checks a username and password with the login throttle (per
// username and client IP) that POST /login and the dashboard's login form
// share; past the limit it sets Retry-After and answers a too-many error.
func (h *handler) checkLogin(w http.ResponseWriter, r *http.Request, username, password string) (*users.User, error) {
	ctx := r.Context()
	subject := strings.ToLower(username) + "|" + clientIP(r)
	n, ttl, err := h.users.LoginFailures(ctx, subject)
	if err != nil {
		return nil, err
	}
	if n >= int64(h.opts.LoginAttempts) {
		secs := int(ttl.Seconds() + 0.999)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		return nil, job.Errorf(job.CodeTooMany, "too many failed logins; retry in %d s", secs)
	}
	u, err := h.users.CheckPassword(ctx, username, password)
	if err != nil {
		if job.ErrorCode(err) == job.CodeUnauthorized {
			if err := h.users.RecordLoginFailure(ctx, subject, h.opts.LoginWindow); err != nil {
				return nil, err
			}
		}
		return nil, err
	}
	_ = h.users.ResetLoginFailures(ctx, subject)
	return u, nil
}

// answerToken answers status with a new bearer token for u.
func (h *handler) answerToken(w http.ResponseWriter, status int, u *users.User) error {
	tok, exp, err := h.issueToken(u)
	if err != nil {
		return err
	}
	writeJSON(w, status, api.TokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp, User: userOut(u)})
	return nil
}

func (h *handler) signup(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var req api.SignupRequest
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	if err := users.CheckPasswordLength("/password", req.Password); err != nil {
		return err
	}
	u := &users.User{User: api.User{Username: req.Username, Email: req.Email, Role: h.opts.SignupRole}}
	if err := h.users.CreateUser(r.Context(), u, req.Password); err != nil {
		return err
	}
	return h.answerToken(w, http.StatusCreated, u)
}

func (h *handler) tokenInfo(w http.ResponseWriter, _ *http.Request, p *Principal) error {
	writeJSON(w, http.StatusOK, api.TokenInfo{Valid: true, Principal: p})
	return nil
}

func (h *handler) currentUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Source == "jwt" || p.Source == "api_key" {
		u, err := h.users.GetUser(r.Context(), p.ID)
		return answer(w, u, err, userOut)
	}
	writeJSON(w, http.StatusOK, &api.User{ID: p.ID, Username: p.Username, Role: p.Role})
	return nil
}

func (h *handler) changePassword(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Source != "jwt" && p.Source != "api_key" {
		return forbidden("only built-in users have a password here")
	}
	var req api.PasswordChange
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	if err := users.CheckPasswordLength("/new_password", req.NewPassword); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.users.CheckPassword(ctx, p.Username, req.CurrentPassword); err != nil {
		if job.ErrorCode(err) == job.CodeUnauthorized {
			return &job.Error{Code: job.CodeForbidden, Message: "current password is wrong"}
		}
		return err
	}
	return noContent(w, h.users.SetPassword(ctx, p.ID, req.NewPassword))
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	us, total, err := h.users.ListUsers(r.Context(), users.Page{Limit: pg.limit, Offset: pg.offset})
	return okJSON(w, api.UserList{Users: mapSlice(us, userOut), TotalEntries: total}, err)
}

func (h *handler) createUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req api.UserCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	if p.Source == "bootstrap" && req.Role != api.RoleAdmin {
		return &job.Error{Code: job.CodeInvalid, Message: "the bootstrap token creates an admin",
			Violations: []job.Violation{{Pointer: "/role", Keyword: "const", Message: "must be admin"}}}
	}
	u, err := newUser(req)
	if err != nil {
		return err
	}
	if p.Source == "bootstrap" {
		// Checked and used up in one step with the user's creation.
		if err := h.users.CreateUserWithBootstrapToken(r.Context(), u, req.Password, credential(r)); err != nil {
			return err
		}
	} else if err := h.users.CreateUser(r.Context(), u, req.Password); err != nil {
		return err
	}
	return h.created(w, r, "/users/"+u.ID, userOut(u))
}

// newUser checks the password of a decoded (hence validated) UserCreate
// and returns the user to create.
func newUser(req api.UserCreate) (*users.User, error) {
	if err := users.CheckPasswordLength("/password", req.Password); err != nil {
		return nil, err
	}
	return &users.User{User: api.User{Username: req.Username, Email: req.Email, Role: req.Role}}, nil
}

func (h *handler) getUser(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	u, err := byPath(r, "user", h.users.GetUser)
	return answer(w, u, err, userOut)
}

func (h *handler) patchUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	req, mask, err := decodePatch[api.UserPatch](h, r, "username", "email", "role", "disabled", "password")
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.users.GetUser(ctx, id); err != nil {
		return err
	}
	missing := func(name string) error {
		return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("update_mask names %q but the body lacks it", name),
			Violations: []job.Violation{{Pointer: "/" + name, Keyword: "required", Message: "named in update_mask"}}}
	}
	// Everything is checked before anything is written; the store then
	// applies every change in one step (all or nothing).
	var ch users.UserChange
	if mask.writes("username", req.Username != nil) {
		if req.Username == nil {
			return missing("username")
		}
		ch.Username = req.Username
	}
	if mask.writes("email", req.Email != nil) {
		if req.Email == nil {
			return missing("email")
		}
		ch.Email = req.Email
	}
	if mask.writes("role", req.Role != nil) {
		if req.Role == nil {
			return missing("role")
		}
		role := string(*req.Role)
		ch.Role = &role
	}
	if mask.writes("disabled", req.Disabled != nil) {
		if req.Disabled == nil {
			return missing("disabled")
		}
		ch.Disabled = req.Disabled
	}
	if mask.writes("password", req.Password != nil) {
		if req.Password == nil {
			return missing("password")
		}
		if err := users.CheckPasswordLength("/password", *req.Password); err != nil {
			return err
		}
		ch.Password = req.Password
	}
	if err := checkSelfChange(p, id, ch); err != nil {
		return err
	}
	u, err := h.users.ChangeUser(ctx, id, ch)
	return answer(w, u, err, userOut)
}

// checkSelfChange refuses the changes that would lock admin p out of its
// own account: a demotion or a disable of itself (a delete is refused by
// deleteUser and the dashboard alike).
func checkSelfChange(p *Principal, id string, ch users.UserChange) error {
	if id != p.ID {
		return nil
	}
	if ch.Role != nil && *ch.Role != string(api.RoleAdmin) {
		return job.Errorf(job.CodeConflict, "an admin cannot demote itself")
	}
	if ch.Disabled != nil && *ch.Disabled {
		return job.Errorf(job.CodeConflict, "an admin cannot disable itself")
	}
	return nil
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	return noContent(w, h.removeUser(r.Context(), p, id))
}

// removeUser deletes user id for admin p, unless it is p itself.
func (h *handler) removeUser(ctx context.Context, p *Principal, id string) error {
	if id == p.ID {
		return job.Errorf(job.CodeConflict, "an admin cannot delete itself")
	}
	return h.users.DeleteUser(ctx, id)
}

func (h *handler) createAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Source != "jwt" && p.Source != "api_key" && p.Role != api.RoleAdmin {
		return forbidden("API keys belong to built-in users")
	}
	var req api.APIKeyCreate
	if err := h.decodeBody(r, &req); err != nil {
		return err
	}
	uid := p.ID
	if req.UserID != "" && !strings.EqualFold(req.UserID, p.ID) {
		if p.Role != api.RoleAdmin {
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
	k := &users.APIKey{Name: req.Name, UserID: uid}
	secret, err := h.users.CreateAPIKey(r.Context(), k)
	if err != nil {
		return err
	}
	return h.created(w, r, "/apiKeys/"+k.ID, api.APIKeyCreated{APIKey: k, Key: secret})
}

func (h *handler) listAPIKeys(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	uid := p.ID
	if p.Role == api.RoleAdmin {
		uid = r.URL.Query().Get("user_id")
	}
	ks, total, err := h.users.ListAPIKeys(r.Context(), uid, users.Page{Limit: pg.limit, Offset: pg.offset})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.APIKeyList{APIKeys: ks, TotalEntries: total})
	return nil
}

func (h *handler) deleteAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	k, err := h.ownAPIKey(r, p)
	if err != nil {
		return err
	}
	return noContent(w, h.users.DeleteAPIKey(r.Context(), k.ID))
}
