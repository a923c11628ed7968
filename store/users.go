package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/solvekit/solvekit/job"
)

// User is a built-in account of the REST layer. Its password is kept only
// as a bcrypt hash and never leaves the store.
type User struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email,omitempty"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// TokenVersion grows on every password change; tokens issued before
	// carry an older version and stop working.
	TokenVersion int `json:"-"`
}

// UsernamePattern is what a username may look like: safe in keys and
// URLs, 1 to 64 characters.
var UsernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// BcryptCost is the bcrypt work factor for new password hashes.
var BcryptCost = bcrypt.DefaultCost

// UserStore keeps built-in users, login throttling counters, the shared
// token signing secret and the bootstrap token in Redis under the store's
// prefix (keys "<prefix>:u:..."). Get one with Store.Users.
type UserStore struct{ s *Store }

// Users returns the store of built-in users.
func (s *Store) Users() *UserStore { return &UserStore{s: s} }

func (u *UserStore) key(id string) string       { return u.s.k.p + ":u:" + id }
func (u *UserStore) nameKey(name string) string { return u.s.k.p + ":u:n:" + strings.ToLower(name) }
func (u *UserStore) ixKey() string              { return u.s.k.p + ":ix:u" }

func userNotFound(id string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("user %q not found", id)}
}

// HashPassword returns the bcrypt hash of a password.
func HashPassword(password string) (string, error) {
	if len(password) > 72 {
		return "", &job.Error{Code: job.CodeInvalid, Message: "password is longer than 72 bytes",
			Violations: []job.Violation{{Pointer: "/password", Keyword: "max", Message: "at most 72 bytes"}}}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	return string(h), err
}

// CreateUser stores a new user with a bcrypt hash of password, filling ID
// and timestamps. A taken username is a conflict.
func (u *UserStore) CreateUser(ctx context.Context, usr *User, password string) error {
	if !UsernamePattern.MatchString(usr.Username) {
		return &job.Error{Code: job.CodeInvalid, Message: "username is not allowed",
			Violations: []job.Violation{{Pointer: "/username", Keyword: "pattern", Message: "use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"}}}
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	usr.ID = id.String()
	now := time.Now().UTC()
	usr.CreatedAt, usr.UpdatedAt = now, now
	ok, err := u.s.rdb.SetNX(ctx, u.nameKey(usr.Username), usr.ID, 0).Result()
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	if !ok {
		return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("username %q is taken", usr.Username)}
	}
	pipe := u.s.rdb.TxPipeline()
	pipe.HSet(ctx, u.key(usr.ID), append(encodeUser(usr), "pw", hash)...)
	pipe.ZAdd(ctx, u.ixKey(), redis.Z{Score: float64(now.UnixMilli()), Member: usr.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		u.s.rdb.Del(context.WithoutCancel(ctx), u.nameKey(usr.Username))
		return fmt.Errorf("store: create user: %w", err)
	}
	return nil
}

func encodeUser(usr *User) []any {
	dis := "0"
	if usr.Disabled {
		dis = "1"
	}
	return []any{"id", usr.ID, "username", usr.Username, "email", usr.Email, "role", usr.Role,
		"disabled", dis, "created_at", ms(usr.CreatedAt), "updated_at", ms(usr.UpdatedAt), "tv", usr.TokenVersion}
}

func decodeUser(m map[string]string) *User {
	usr := &User{ID: m["id"], Username: m["username"], Email: m["email"], Role: m["role"],
		Disabled: m["disabled"] == "1", CreatedAt: parseMS(m["created_at"]), UpdatedAt: parseMS(m["updated_at"])}
	usr.TokenVersion, _ = strconv.Atoi(m["tv"])
	return usr
}

// GetUser reads a user by id.
func (u *UserStore) GetUser(ctx context.Context, id string) (*User, error) {
	m, err := u.s.rdb.HGetAll(ctx, u.key(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	if m["id"] == "" {
		return nil, userNotFound(id)
	}
	return decodeUser(m), nil
}

// GetUserByName reads a user by username (case-insensitive).
func (u *UserStore) GetUserByName(ctx context.Context, name string) (*User, error) {
	if !UsernamePattern.MatchString(name) {
		return nil, userNotFound(name)
	}
	id, err := u.s.rdb.Get(ctx, u.nameKey(name)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, userNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	return u.GetUser(ctx, id)
}

// dummyHash is compared against when a username is unknown, so that a
// login for an unknown user costs as much as one with a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("solvekit-dummy-password"), bcrypt.DefaultCost)

// CheckPassword returns the user when username and password match and the
// account is enabled, and a CodeUnauthorized error otherwise (the same one
// for every cause).
func (u *UserStore) CheckPassword(ctx context.Context, username, password string) (*User, error) {
	bad := &job.Error{Code: job.CodeUnauthorized, Message: "invalid username or password"}
	usr, err := u.GetUserByName(ctx, username)
	if err != nil {
		if job.ErrorCode(err) != job.CodeNotFound {
			return nil, err
		}
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, bad
	}
	hash, err := u.s.rdb.HGet(ctx, u.key(usr.ID), "pw").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || usr.Disabled {
		return nil, bad
	}
	return usr, nil
}

// UpdateUser rewrites a user's record (username, email, role, disabled).
// A username change moves the name index; a taken name is a conflict.
func (u *UserStore) UpdateUser(ctx context.Context, usr *User) error {
	old, err := u.GetUser(ctx, usr.ID)
	if err != nil {
		return err
	}
	if !UsernamePattern.MatchString(usr.Username) {
		return &job.Error{Code: job.CodeInvalid, Message: "username is not allowed",
			Violations: []job.Violation{{Pointer: "/username", Keyword: "pattern", Message: "use 1 to 64 letters, digits, '.', '_', '@' or '-'"}}}
	}
	if !strings.EqualFold(old.Username, usr.Username) {
		ok, err := u.s.rdb.SetNX(ctx, u.nameKey(usr.Username), usr.ID, 0).Result()
		if err != nil {
			return err
		}
		if !ok {
			return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("username %q is taken", usr.Username)}
		}
		u.s.rdb.Del(ctx, u.nameKey(old.Username))
	}
	usr.CreatedAt = old.CreatedAt
	usr.UpdatedAt = time.Now().UTC()
	return u.s.rdb.HSet(ctx, u.key(usr.ID), encodeUser(usr)...).Err()
}

// SetPassword replaces a user's password and invalidates the tokens issued
// before (the token version grows).
func (u *UserStore) SetPassword(ctx context.Context, id, password string) error {
	if _, err := u.GetUser(ctx, id); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	pipe := u.s.rdb.TxPipeline()
	pipe.HSet(ctx, u.key(id), "pw", hash, "updated_at", ms(time.Now()))
	pipe.HIncrBy(ctx, u.key(id), "tv", 1)
	_, err = pipe.Exec(ctx)
	return err
}

// DeleteUser removes a user and its API keys. The objects it owns stay.
func (u *UserStore) DeleteUser(ctx context.Context, id string) error {
	usr, err := u.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if err := u.s.DeleteUserAPIKeys(ctx, id); err != nil {
		return err
	}
	pipe := u.s.rdb.TxPipeline()
	pipe.Del(ctx, u.key(id), u.nameKey(usr.Username))
	pipe.ZRem(ctx, u.ixKey(), id)
	_, err = pipe.Exec(ctx)
	return err
}

// ListUsers returns users oldest first and their total.
func (u *UserStore) ListUsers(ctx context.Context, p Page) ([]*User, int64, error) {
	pipe := u.s.rdb.Pipeline()
	total := pipe.ZCard(ctx, u.ixKey())
	ids := pipe.ZRange(ctx, u.ixKey(), int64(p.Offset), int64(p.Offset+p.Limit-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("store: list users: %w", err)
	}
	out := make([]*User, 0, len(ids.Val()))
	for _, id := range ids.Val() {
		usr, err := u.GetUser(ctx, id)
		if err != nil {
			if job.ErrorCode(err) == job.CodeNotFound {
				continue
			}
			return nil, 0, err
		}
		out = append(out, usr)
	}
	return out, total.Val(), nil
}

// CountUsers returns how many users exist.
func (u *UserStore) CountUsers(ctx context.Context) (int64, error) {
	return u.s.rdb.ZCard(ctx, u.ixKey()).Result()
}

func (u *UserStore) throttleKey(subject string) string {
	h := sha256.Sum256([]byte(subject))
	return u.s.k.p + ":u:thr:" + hex.EncodeToString(h[:12])
}

// LoginFailures returns how many failed logins subject (e.g.
// "username|ip") had in the current window.
func (u *UserStore) LoginFailures(ctx context.Context, subject string) (int64, time.Duration, error) {
	pipe := u.s.rdb.Pipeline()
	n := pipe.Get(ctx, u.throttleKey(subject))
	ttl := pipe.PTTL(ctx, u.throttleKey(subject))
	_, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, err
	}
	c, _ := strconv.ParseInt(n.Val(), 10, 64)
	return c, ttl.Val(), nil
}

// RecordLoginFailure counts one failed login of subject; the count expires
// window after the latest failure.
func (u *UserStore) RecordLoginFailure(ctx context.Context, subject string, window time.Duration) error {
	pipe := u.s.rdb.TxPipeline()
	pipe.Incr(ctx, u.throttleKey(subject))
	pipe.PExpire(ctx, u.throttleKey(subject), window) // sliding: each failure restarts the window
	_, err := pipe.Exec(ctx)
	return err
}

// ResetLoginFailures forgets the failures of subject (after a success).
func (u *UserStore) ResetLoginFailures(ctx context.Context, subject string) error {
	return u.s.rdb.Del(ctx, u.throttleKey(subject)).Err()
}

// SigningSecret returns the HMAC secret shared by every process using this
// Redis, creating a random one on first use.
func (u *UserStore) SigningSecret(ctx context.Context) ([]byte, error) {
	k := u.s.k.p + ":u:secret"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := u.s.rdb.SetNX(ctx, k, hex.EncodeToString(b), 0).Err(); err != nil {
		return nil, err
	}
	v, err := u.s.rdb.Get(ctx, k).Result()
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

// CreateBootstrapToken makes a one-time admin token valid for ttl, unless
// one is already pending (created reports whether this call made it; only
// then is token set). Only its SHA-256 hash is stored.
func (u *UserStore) CreateBootstrapToken(ctx context.Context, ttl time.Duration) (token string, created bool, err error) {
	token = "bt_" + randomToken(24)
	ok, err := u.s.rdb.SetNX(ctx, u.s.k.p+":u:bootstrap", HashToken(token), ttl).Result()
	if err != nil || !ok {
		return "", false, err
	}
	return token, true, nil
}

// CheckBootstrapToken reports whether token is the pending bootstrap token
// (compared in constant time).
func (u *UserStore) CheckBootstrapToken(ctx context.Context, token string) (bool, error) {
	h, err := u.s.rdb.Get(ctx, u.s.k.p+":u:bootstrap").Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(h), []byte(HashToken(token))) == 1, nil
}

// ConsumeBootstrapToken removes the pending bootstrap token.
func (u *UserStore) ConsumeBootstrapToken(ctx context.Context) error {
	return u.s.rdb.Del(ctx, u.s.k.p+":u:bootstrap").Err()
}

// HashToken returns the hex SHA-256 of a secret token (API keys, job keys,
// bootstrap tokens are stored only so).
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
