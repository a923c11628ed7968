package users

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
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// User is a built-in account of the REST layer: the account as the API
// shows it, and what only the store knows. Its password is kept only as a
// bcrypt hash and never leaves the store.
type User struct {
	api.User
	// TokenVersion grows on every password change and whenever the user
	// is disabled or re-enabled; tokens issued before carry an older
	// version and stop working for good.
	TokenVersion int `json:"-"`
}

// UsernamePattern is what a username may look like: safe in keys and
// URLs, 1 to 64 characters.
var UsernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// BcryptCost is the bcrypt work factor for new password hashes.
var BcryptCost = bcrypt.DefaultCost

// Store keeps the REST layer's built-in users, their API keys, login
// throttling counters and the hash of the bootstrap token in Redis, under
// the Service's key prefix (keys "<prefix>:u:...", "<prefix>:k:...").
// No token signing secret is kept there. It shares nothing with the
// execution store but the Redis client.
type Store struct {
	rdb redis.UniversalClient
	p   string
}

// New returns the user store on rdb under prefix.
func New(rdb redis.UniversalClient, prefix string) *Store { return &Store{rdb: rdb, p: prefix} }

func (u *Store) key(id string) string       { return u.p + ":u:" + id }
func (u *Store) nameKey(name string) string { return u.p + ":u:n:" + strings.ToLower(name) }
func (u *Store) ixKey() string              { return u.p + ":ix:u" }

func userNotFound(id string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("user %q not found", id)}
}

// MaxPasswordBytes is the longest password accepted, in bytes of UTF-8:
// bcrypt's limit. A non-ASCII character takes 2 to 4 bytes, so 40 "é" (80
// bytes) are too long although they are 40 characters.
const MaxPasswordBytes = 72

// CheckPasswordLength returns a CodeInvalid error whose violation points
// at pointer (e.g. "/password") when password is longer than
// MaxPasswordBytes bytes, and nil otherwise.
func CheckPasswordLength(pointer, password string) error {
	if n := len(password); n > MaxPasswordBytes {
		return &job.Error{Code: job.CodeInvalid,
			Message: fmt.Sprintf("password is %d bytes long; at most %d bytes are allowed (bcrypt's limit; a non-ASCII character takes 2 to 4 bytes)", n, MaxPasswordBytes),
			Violations: []job.Violation{{Pointer: pointer, Keyword: "max",
				Message: fmt.Sprintf("at most %d bytes in UTF-8 (this one is %d bytes)", MaxPasswordBytes, n)}}}
	}
	return nil
}

// HashPassword returns the bcrypt hash of a password. A password longer
// than MaxPasswordBytes bytes is refused (CodeInvalid), never cut.
func HashPassword(password string) (string, error) {
	if err := CheckPasswordLength("/password", password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	return string(h), err
}

func badUsername() error {
	return &job.Error{Code: job.CodeInvalid, Message: "username is not allowed",
		Violations: []job.Violation{{Pointer: "/username", Keyword: "pattern", Message: "use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"}}}
}

func usernameTaken(name string) error {
	return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("username %q is taken", name)}
}

// CreateUser stores a new user with a bcrypt hash of password, filling ID
// and timestamps. A taken username is a conflict. Everything is checked
// before anything is written, and the user appears at once (one script).
func (u *Store) CreateUser(ctx context.Context, usr *User, password string) error {
	return u.createUser(ctx, usr, password, "")
}

// CreateUserWithBootstrapToken creates a user like CreateUser and uses up
// the pending bootstrap token in the same script: the user is created
// only if token is the pending one, and then the token is gone, so that
// concurrent requests create one user at most. A token that is not (or no
// longer) pending is a CodeUnauthorized error; a request refused for
// another reason (a bad username or password, a taken name) leaves the
// token pending.
func (u *Store) CreateUserWithBootstrapToken(ctx context.Context, usr *User, password, token string) error {
	return u.createUser(ctx, usr, password, HashToken(token))
}

// createUserScript creates a user: name index, record and list index
// together, after checking the bootstrap token when one is given.
// KEYS[1] bootstrap token, KEYS[2] name, KEYS[3] record, KEYS[4] index.
// ARGV[1] token hash or "", ARGV[2] id, ARGV[3] score, ARGV[4..] fields.
// The token hashes are compared in Lua: not in constant time, but the
// SHA-256 of a secret says nothing usable about the secret.
var createUserScript = redis.NewScript(`
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if ARGV[1] ~= '' then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return 1`)

func (u *Store) createUser(ctx context.Context, usr *User, password, tokenHash string) error {
	if !UsernamePattern.MatchString(usr.Username) {
		return badUsername()
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	rec := *usr
	rec.ID, rec.CreatedAt, rec.UpdatedAt, rec.TokenVersion = id.String(), now, now, 0
	argv := append([]any{tokenHash, rec.ID, now.UnixMilli()}, encodeUser(&rec)...)
	argv = append(argv, "pw", hash)
	n, err := createUserScript.Run(ctx, u.rdb,
		[]string{u.bootstrapKey(), u.nameKey(rec.Username), u.key(rec.ID), u.ixKey()}, argv...).Int()
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	switch n {
	case 0:
		return &job.Error{Code: job.CodeUnauthorized, Message: "invalid or used bootstrap token"}
	case -1:
		return usernameTaken(rec.Username)
	}
	*usr = rec
	return nil
}

func encodeUser(usr *User) []any {
	dis := "0"
	if usr.Disabled {
		dis = "1"
	}
	return []any{"id", usr.ID, "username", usr.Username, "email", usr.Email, "role", string(usr.Role),
		"disabled", dis, "created_at", ms(usr.CreatedAt), "updated_at", ms(usr.UpdatedAt), "tv", usr.TokenVersion}
}

func decodeUser(m map[string]string) *User {
	usr := &User{User: api.User{ID: m["id"], Username: m["username"], Email: m["email"], Role: api.Role(m["role"]),
		Disabled: m["disabled"] == "1", CreatedAt: parseMS(m["created_at"]), UpdatedAt: parseMS(m["updated_at"])}}
	usr.TokenVersion, _ = strconv.Atoi(m["tv"])
	return usr
}

// GetUser reads a user by id.
func (u *Store) GetUser(ctx context.Context, id string) (*User, error) {
	m, err := u.rdb.HGetAll(ctx, u.key(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	if m["id"] == "" {
		return nil, userNotFound(id)
	}
	return decodeUser(m), nil
}

// GetUserByName reads a user by username (case-insensitive).
func (u *Store) GetUserByName(ctx context.Context, name string) (*User, error) {
	if !UsernamePattern.MatchString(name) {
		return nil, userNotFound(name)
	}
	id, err := u.rdb.Get(ctx, u.nameKey(name)).Result()
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
// It is made at the first such login, not when the package loads.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("solvekit-dummy-password"), bcrypt.DefaultCost)
	return h
})

// CheckPassword returns the user when username and password match and the
// account is enabled, and a CodeUnauthorized error otherwise (the same one
// for every cause).
func (u *Store) CheckPassword(ctx context.Context, username, password string) (*User, error) {
	bad := &job.Error{Code: job.CodeUnauthorized, Message: "invalid username or password"}
	usr, err := u.GetUserByName(ctx, username)
	if err != nil {
		if job.ErrorCode(err) != job.CodeNotFound {
			return nil, err
		}
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, bad
	}
	hash, err := u.rdb.HGet(ctx, u.key(usr.ID), "pw").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || usr.Disabled {
		return nil, bad
	}
	return usr, nil
}

// UserChange lists the changes ChangeUser makes to a user; nil fields
// stay as they are.
type UserChange struct {
	Username *string
	Email    *string
	Role     *string
	Disabled *bool
	// Password is the new password; it is hashed before anything is
	// written.
	Password *string
}

// changeUserScript applies a UserChange. KEYS[1] record, KEYS[2] old name,
// KEYS[3] new name. ARGV[1] id, ARGV[2] the username read before (a rename
// meanwhile makes the caller read again), ARGV[3] new username or "",
// ARGV[4] password hash or "", ARGV[5] disabled "" (unchanged), "0" or "1",
// ARGV[6] updated_at, ARGV[7..] other fields. A new password and any
// change of disabled raise the token version.
var changeUserScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'username') ~= ARGV[2] then return -2 end
if ARGV[3] ~= '' and KEYS[2] ~= KEYS[3] then
  if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
  redis.call('SET', KEYS[3], ARGV[1])
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
end
local bump = false
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'username', ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'pw', ARGV[4])
  bump = true
end
if ARGV[5] ~= '' then
  if (redis.call('HGET', KEYS[1], 'disabled') or '0') ~= ARGV[5] then bump = true end
  redis.call('HSET', KEYS[1], 'disabled', ARGV[5])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[6])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if bump then redis.call('HINCRBY', KEYS[1], 'tv', 1) end
return 1`)

// ChangeUser checks every change first (username, password) and then
// applies them all in one script: the user gets all of them or none (a
// taken username or a too long password changes nothing). A new password,
// and disabling or re-enabling the user, raise its token version: tokens
// issued before stop working for good. It returns the user as stored.
func (u *Store) ChangeUser(ctx context.Context, id string, c UserChange) (*User, error) {
	if c.Username != nil && !UsernamePattern.MatchString(*c.Username) {
		return nil, badUsername()
	}
	hash := ""
	if c.Password != nil {
		h, err := HashPassword(*c.Password)
		if err != nil {
			return nil, err
		}
		hash = h
	}
	for range 10 {
		old, err := u.GetUser(ctx, id)
		if err != nil {
			return nil, err
		}
		newName, newKey := "", u.nameKey(old.Username)
		if c.Username != nil {
			newName, newKey = *c.Username, u.nameKey(*c.Username)
		}
		dis := ""
		if c.Disabled != nil {
			dis = "0"
			if *c.Disabled {
				dis = "1"
			}
		}
		argv := []any{id, old.Username, newName, hash, dis, ms(time.Now().UTC())}
		if c.Email != nil {
			argv = append(argv, "email", *c.Email)
		}
		if c.Role != nil {
			argv = append(argv, "role", *c.Role)
		}
		n, err := changeUserScript.Run(ctx, u.rdb, []string{u.key(id), u.nameKey(old.Username), newKey}, argv...).Int()
		if err != nil {
			return nil, fmt.Errorf("store: change user: %w", err)
		}
		switch n {
		case 0:
			return nil, userNotFound(id)
		case -1:
			return nil, usernameTaken(newName)
		case 1:
			return u.GetUser(ctx, id)
		}
		// -2: renamed meanwhile; read again
	}
	return nil, &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("user %q is being changed concurrently; retry", id)}
}

// UpdateUser rewrites a user's username, email, role and disabled flag
// at once (see ChangeUser) and refreshes usr from the store.
func (u *Store) UpdateUser(ctx context.Context, usr *User) error {
	role := string(usr.Role)
	got, err := u.ChangeUser(ctx, usr.ID, UserChange{Username: &usr.Username, Email: &usr.Email, Role: &role, Disabled: &usr.Disabled})
	if err != nil {
		return err
	}
	*usr = *got
	return nil
}

// SetPassword replaces a user's password and invalidates the tokens issued
// before (the token version grows).
func (u *Store) SetPassword(ctx context.Context, id, password string) error {
	_, err := u.ChangeUser(ctx, id, UserChange{Password: &password})
	return err
}

// DeleteUser removes a user and its API keys. The objects it owns stay.
func (u *Store) DeleteUser(ctx context.Context, id string) error {
	usr, err := u.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if err := u.DeleteUserAPIKeys(ctx, id); err != nil {
		return err
	}
	pipe := u.rdb.TxPipeline()
	pipe.Del(ctx, u.key(id), u.nameKey(usr.Username))
	pipe.ZRem(ctx, u.ixKey(), id)
	_, err = pipe.Exec(ctx)
	return err
}

// ListUsers returns users oldest first and their total.
func (u *Store) ListUsers(ctx context.Context, p Page) ([]*User, int64, error) {
	pipe := u.rdb.Pipeline()
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
func (u *Store) CountUsers(ctx context.Context) (int64, error) {
	return u.rdb.ZCard(ctx, u.ixKey()).Result()
}

func (u *Store) throttleKey(subject string) string {
	h := sha256.Sum256([]byte(subject))
	return u.p + ":u:thr:" + hex.EncodeToString(h[:12])
}

// LoginFailures returns how many failed logins subject (e.g.
// "username|ip") had in the current window.
func (u *Store) LoginFailures(ctx context.Context, subject string) (int64, time.Duration, error) {
	pipe := u.rdb.Pipeline()
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
func (u *Store) RecordLoginFailure(ctx context.Context, subject string, window time.Duration) error {
	pipe := u.rdb.TxPipeline()
	pipe.Incr(ctx, u.throttleKey(subject))
	pipe.PExpire(ctx, u.throttleKey(subject), window) // sliding: each failure restarts the window
	_, err := pipe.Exec(ctx)
	return err
}

// ResetLoginFailures forgets the failures of subject (after a success).
func (u *Store) ResetLoginFailures(ctx context.Context, subject string) error {
	return u.rdb.Del(ctx, u.throttleKey(subject)).Err()
}

func (u *Store) bootstrapKey() string { return u.p + ":u:bootstrap" }

// RemoveStoredSigningSecret deletes the token signing secret that solvekit
// 0.1 generated and kept in Redis (key "<prefix>:u:secret"): the secret
// now comes from configuration, and one readable in Redis lets anyone who
// can read Redis mint tokens.
func (u *Store) RemoveStoredSigningSecret(ctx context.Context) error {
	return u.rdb.Del(ctx, u.p+":u:secret").Err()
}

// setBootstrapScript sets the bootstrap token only while no user exists.
// KEYS[1] user index, KEYS[2] token. ARGV[1] hash, ARGV[2] ttl in ms.
var setBootstrapScript = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1`)

// SetBootstrapToken makes token the pending one-time bootstrap token,
// valid for ttl, if no user exists (checked in the same script, so a token
// is never set again once the first user exists). It reports whether it
// did. Only the token's SHA-256 hash is stored.
func (u *Store) SetBootstrapToken(ctx context.Context, token string, ttl time.Duration) (bool, error) {
	n, err := setBootstrapScript.Run(ctx, u.rdb, []string{u.ixKey(), u.bootstrapKey()},
		HashToken(token), ttl.Milliseconds()).Int()
	return n == 1, err
}

// CheckBootstrapToken reports whether token is the pending bootstrap token
// (compared in constant time). It does not use the token up; see
// CreateUserWithBootstrapToken.
func (u *Store) CheckBootstrapToken(ctx context.Context, token string) (bool, error) {
	h, err := u.rdb.Get(ctx, u.bootstrapKey()).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(h), []byte(HashToken(token))) == 1, nil
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
