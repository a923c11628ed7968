package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/serviceredis"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// A PATCH of a user that fails validation changes nothing: not the role,
// not the email, not the password. A password of 40 "é" is 40 characters
// but 80 bytes, over bcrypt's 72-byte limit.
func TestPatchUserAllOrNothing(t *testing.T) {
	e, p, a := plannerEnv(t, envOpts{})
	ctx := context.Background()
	long := strings.Repeat("é", 40)
	require.Len(t, []rune(long), 40)
	_, err := a.c.PatchUser(ctx, p.user.ID, api.UserPatch{
		Role: ptr(api.RoleAdmin), Email: ptr("new@example.com"), Password: ptr(long)})
	require.Equal(t, 422, client.StatusCode(err), "%v", err)
	var pr *api.Problem
	require.ErrorAs(t, err, &pr)
	require.Len(t, pr.Errors, 1, "%v", err)
	require.Equal(t, "/password", pr.Errors[0].Pointer)
	require.Contains(t, pr.Errors[0].Message, "72 bytes")

	u, err := a.c.GetUser(ctx, p.user.ID)
	require.NoError(t, err)
	require.Equal(t, api.RolePlanner, u.Role, "the refused PATCH must not change the role")
	require.Empty(t, u.Email, "the refused PATCH must not change the email")
	require.Equal(t, p.user.UpdatedAt, u.UpdatedAt)
	info, err := p.c.Token(ctx)
	require.NoError(t, err, "the planner's token still works: nothing changed")
	require.Equal(t, api.RolePlanner, info.Principal.Role)
	_, err = e.anon.Login(ctx, "planner", "planner-password")
	require.NoError(t, err, "the password did not change")

	// A taken username refuses the whole PATCH too.
	e.addUser("other", api.RoleViewer)
	_, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Username: ptr("other"), Role: ptr(api.RoleAdmin)})
	require.Equal(t, 409, client.StatusCode(err), "%v", err)
	u, err = a.c.GetUser(ctx, p.user.ID)
	require.NoError(t, err)
	require.Equal(t, api.RolePlanner, u.Role)
	require.Equal(t, "planner", u.Username)

	// The password limit is in bytes on every route that takes one.
	err = p.c.ChangePassword(ctx, "planner-password", long)
	require.Equal(t, 422, client.StatusCode(err), "%v", err)
	require.ErrorAs(t, err, &pr)
	require.Equal(t, "/new_password", pr.Errors[0].Pointer)
	_, err = a.c.CreateUser(ctx, api.UserCreate{Username: "x1", Password: long, Role: api.RoleViewer})
	require.Equal(t, 422, client.StatusCode(err), "%v", err)
	require.ErrorAs(t, err, &pr)
	require.Equal(t, "/password", pr.Errors[0].Pointer)

	// A valid PATCH applies every change at once.
	u, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Email: ptr("p@example.com"), Password: ptr("fresh-password-2")})
	require.NoError(t, err)
	require.Equal(t, "p@example.com", u.Email)
	_, err = e.anon.Login(ctx, "planner", "fresh-password-2")
	require.NoError(t, err)
}

// Disabling a user ends its tokens for good: re-enabling it does not bring
// them back.
func TestDisableEndsTokensForGood(t *testing.T) {
	e, p, a := plannerEnv(t, envOpts{})
	ctx := context.Background()
	_, err := p.c.Token(ctx)
	require.NoError(t, err)
	_, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Disabled: ptr(true)}, "disabled")
	require.NoError(t, err)
	_, err = p.c.Token(ctx)
	require.Equal(t, 401, client.StatusCode(err))
	_, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Disabled: ptr(false)}, "disabled")
	require.NoError(t, err)
	_, err = p.c.Token(ctx)
	require.Equal(t, 401, client.StatusCode(err), "a token issued before the account was disabled must stay dead")
	e.login(p)
	_, err = p.c.Token(ctx)
	require.NoError(t, err, "a fresh login works again")
}

// A host Authenticator that returns a principal without ID is a bug in the
// host; the request is refused (never treated as "everyone's") and logged.
func TestAuthenticatorPrincipalWithoutID(t *testing.T) {
	var logged logtest.Buffer
	auth := httpapi.AuthenticatorFunc(func(r *http.Request) (*httpapi.Principal, error) {
		switch r.Header.Get("X-Session") {
		case "alice":
			return &httpapi.Principal{ID: "alice", Role: api.RolePlanner}, nil
		case "noid":
			return &httpapi.Principal{Username: "ghost", Role: api.RolePlanner}, nil
		case "blank":
			return &httpapi.Principal{ID: "  ", Role: api.RoleAdmin}, nil
		}
		return nil, nil
	})
	e := newEnv(t, envOpts{opts: httpapi.Options{Authenticator: auth, DisableBuiltinAuth: true, Logger: logged.Logger(slog.LevelDebug)}})
	ctx := context.Background()
	alice := e.client(withHeader("X-Session", "alice"))
	_, err := alice.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: mustJSON(map[string]int{"a": 1})}, 0)
	require.NoError(t, err)
	mine, err := alice.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.NoError(t, err)
	require.Len(t, mine.Executions, 1)

	for _, sid := range []string{"noid", "blank"} {
		list, err := e.client(withHeader("X-Session", sid)).ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
		if err == nil {
			t.Fatalf("%s: a principal without ID listed %d executions", sid, len(list.Executions))
		}
		code := client.StatusCode(err)
		require.True(t, code == 401 || code == 500, "%s: %v", sid, err)
	}
	require.Contains(t, logged.String(), "principal without an ID")
}

type headerRT struct{ k, v string }

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.k, h.v)
	return http.DefaultTransport.RoundTrip(r)
}

func withHeader(k, v string) client.Option {
	return client.WithHTTPClient(&http.Client{Transport: headerRT{k, v}})
}

// serviceOnDB starts a service (no worker) on a fresh database of the
// package's Redis and returns it with a client of that database.
func serviceOnDB(t *testing.T) (*solvekit.Service, *redis.Client) {
	t.Helper()
	srv := redistest.Current(t)
	rdb := redis.NewClient(srv.Options(srv.DB(t)))
	t.Cleanup(func() { rdb.Close() })
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: rdb, Logger: quietLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	return svc, rdb
}

// Outside the embedded Redis the signing secret comes from configuration:
// without one (or with a short one) the handler does not start.
func TestJWTSecretRequiredOnExternalRedis(t *testing.T) {
	svc, rdb := serviceOnDB(t)
	_, err := httpapi.New(svc, httpapi.Options{Logger: quietLogger()})
	require.Error(t, err, "no JWTSecret on an external Redis must be refused")
	require.Contains(t, err.Error(), "JWTSecret")
	_, err = httpapi.New(svc, httpapi.Options{JWTSecret: []byte("short"), Logger: quietLogger()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "at least 32")
	_, err = httpapi.New(svc, httpapi.Options{Authenticator: httpapi.AuthenticatorFunc(func(*http.Request) (*httpapi.Principal, error) { return nil, nil }),
		DisableBuiltinAuth: true, Logger: quietLogger()})
	require.NoError(t, err, "no secret is needed when built-in logins are off")
	keys, err := rdb.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, "secret", "nothing secret is written to Redis")
	}
}

// No signing secret is kept in Redis: not with a configured secret, not
// with the embedded Redis' per-process one.
func TestNoSigningSecretInRedis(t *testing.T) {
	ctx := context.Background()
	secret := []byte("test-secret-test-secret-test-secret!")
	e, p, _ := plannerEnv(t, envOpts{opts: httpapi.Options{JWTSecret: secret}})
	_, err := p.c.CreateAPIKey(ctx, api.APIKeyCreate{Name: "k"})
	require.NoError(t, err)
	requireNoSecretIn(t, e.rdb, secret)

	// the embedded Redis: a random secret that lives only in the process
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: quietLogger()})
	require.NoError(t, err)
	defer svc.Close()
	h, err := httpapi.New(svc, httpapi.Options{Logger: quietLogger(),
		BootstrapAdmin: &httpapi.BootstrapAdmin{Username: "admin", Password: "admin-password"}})
	require.NoError(t, err)
	u := serve(t, h)
	tok, err := client.New(u).Login(ctx, "admin", "admin-password")
	require.NoError(t, err)
	_, err = client.New(u, client.WithToken(tok.Token)).Token(ctx)
	require.NoError(t, err)
	keys, err := redisOf(svc).Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, "secret", "the embedded Redis holds no signing secret")
	}
}

// requireNoSecretIn scans every string and hash of the database for the
// secret (raw or hex).
func requireNoSecretIn(t *testing.T, rdb *redis.Client, secret []byte) {
	t.Helper()
	ctx := context.Background()
	needles := []string{string(secret), fmt.Sprintf("%x", secret)}
	var cursor uint64
	n := 0
	for {
		keys, next, err := rdb.Scan(ctx, cursor, "*", 100).Result()
		require.NoError(t, err)
		for _, k := range keys {
			n++
			require.NotContains(t, k, "secret")
			var vals []string
			switch rdb.Type(ctx, k).Val() {
			case "string":
				vals = append(vals, rdb.Get(ctx, k).Val())
			case "hash":
				for f, v := range rdb.HGetAll(ctx, k).Val() {
					vals = append(vals, f, v)
				}
			}
			for _, v := range vals {
				for _, s := range needles {
					require.NotContains(t, v, s, "key %s holds the signing secret", k)
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	require.NotZero(t, n, "the scan saw the test's keys")
}

const testBootstrapToken = "bt_0123456789abcdef0123456789abcdef0123456789abcdef"

// bootstrapServer starts a handler with a configured bootstrap token on a
// database without users, logging into logged.
func bootstrapServer(t *testing.T, logged *logtest.Buffer) (*solvekit.Service, string) {
	t.Helper()
	svc, _ := serviceOnDB(t)
	h, err := httpapi.New(svc, httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef"),
		BootstrapToken: testBootstrapToken, Logger: logged.Logger(slog.LevelDebug)})
	require.NoError(t, err)
	return svc, serve(t, h)
}

// Many concurrent requests with the bootstrap token create exactly one
// admin.
func TestBootstrapTokenConcurrent(t *testing.T) {
	var logged logtest.Buffer
	svc, u := bootstrapServer(t, &logged)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := client.New(u, client.WithToken(testBootstrapToken)).CreateUser(ctx,
				api.UserCreate{Username: fmt.Sprintf("root%d", i), Password: "long-enough", Role: api.RoleAdmin})
			codes[i] = client.StatusCode(err)
			if err == nil {
				codes[i] = 201
			}
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == 201 {
			created++
		} else {
			require.Equal(t, 401, c, "%v", codes)
		}
	}
	require.Equal(t, 1, created, "%v", codes)
	count, err := usersOf(svc).CountUsers(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, count)
	require.NotContains(t, logged.String(), testBootstrapToken)
}

// The bootstrap token creates one admin, nothing else, and never shows up
// in the logs (not at start, not when it is used or refused).
func TestBootstrapTokenNeverLogged(t *testing.T) {
	var logged logtest.Buffer
	_, u := bootstrapServer(t, &logged)
	ctx := context.Background()
	bc := client.New(u, client.WithToken(testBootstrapToken))
	_, err := bc.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.Equal(t, 403, client.StatusCode(err), "the bootstrap token only creates the first admin")
	_, err = bc.CreateUser(ctx, api.UserCreate{Username: "root", Password: "long-enough", Role: "viewer"})
	require.Equal(t, 422, client.StatusCode(err), "the bootstrap token creates an admin")
	_, err = bc.CreateUser(ctx, api.UserCreate{Username: "root", Password: "short", Role: "admin"})
	require.Equal(t, 422, client.StatusCode(err))
	_, err = bc.CreateUser(ctx, api.UserCreate{Username: "root", Password: "long-enough", Role: "admin"})
	require.NoError(t, err, "refused attempts do not use the token up")
	_, err = bc.CreateUser(ctx, api.UserCreate{Username: "root2", Password: "long-enough", Role: "admin"})
	require.Equal(t, 401, client.StatusCode(err), "the bootstrap token works once")
	_, err = client.New(u).Login(ctx, "root", "long-enough")
	require.NoError(t, err)
	out := logged.String()
	require.NotEmpty(t, out, "the handler logged something (the test captures its logger)")
	require.NotContains(t, out, testBootstrapToken)
	require.NotContains(t, out, "bt_")
}

// A malformed configured bootstrap token is refused at start.
func TestBootstrapTokenMustLookLikeOne(t *testing.T) {
	svc, _ := serviceOnDB(t)
	for _, tok := range []string{"secret", "bt_short"} {
		_, err := httpapi.New(svc, httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef"),
			BootstrapToken: tok, Logger: quietLogger()})
		require.Error(t, err, tok)
		require.Contains(t, err.Error(), "BootstrapToken")
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestLoginThrottling(t *testing.T) {
	e, _, _ := plannerEnv(t, envOpts{})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_, err := e.anon.Login(ctx, "planner", "wrong")
		require.Equal(t, 401, client.StatusCode(err))
	}
	_, err := e.anon.Login(ctx, "planner", "planner-password")
	require.Equal(t, 429, client.StatusCode(err), "even the right password waits out the window")
	// another username from the same IP is not affected
	_, err = e.anon.Login(ctx, "admin", "admin-password")
	require.NoError(t, err)
}

func TestTokensAndKeys(t *testing.T) {
	e, p, _ := plannerEnv(t, envOpts{opts: httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef")}})
	ctx := context.Background()
	info, err := p.c.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "jwt", info.Principal.Source)

	// algorithm pinned: an HS384 or "none" token with the right secret is refused
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS384, jwt.SigningMethodNone} {
		key := any([]byte("0123456789abcdef0123456789abcdef"))
		if m == jwt.SigningMethodNone {
			key = jwt.UnsafeAllowNoneSignatureType
		}
		tok, err := jwt.NewWithClaims(m, jwt.MapClaims{"sub": p.user.ID, "iss": "solvekit", "exp": time.Now().Add(time.Hour).Unix(), "tv": 0}).SignedString(key)
		require.NoError(t, err)
		_, err = e.client(client.WithToken(tok)).Token(ctx)
		require.Equal(t, 401, client.StatusCode(err), m.Alg())
	}
	// wrong issuer, expired
	for _, claims := range []jwt.MapClaims{
		{"sub": p.user.ID, "iss": "other", "exp": time.Now().Add(time.Hour).Unix(), "tv": 0},
		{"sub": p.user.ID, "iss": "solvekit", "exp": time.Now().Add(-time.Hour).Unix(), "tv": 0},
		{"sub": p.user.ID, "iss": "solvekit", "tv": 0},
	} {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("0123456789abcdef0123456789abcdef"))
		_, err = e.client(client.WithToken(tok)).Token(ctx)
		require.Equal(t, 401, client.StatusCode(err))
	}

	// API keys: shown once, work, revocable
	k, err := p.c.CreateAPIKey(ctx, api.APIKeyCreate{Name: "ci"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(k.Key, "sk_"))
	kc := e.client(client.WithToken(k.Key))
	u, err := kc.CurrentUser(ctx)
	require.NoError(t, err)
	require.Equal(t, "planner", u.Username)
	keys, err := p.c.ListAPIKeys(ctx, client.Page{})
	require.NoError(t, err)
	require.Len(t, keys.APIKeys, 1)
	require.NoError(t, p.c.DeleteAPIKey(ctx, k.ID))
	_, err = kc.CurrentUser(ctx)
	require.Equal(t, 401, client.StatusCode(err))

	// a password change ends older tokens
	require.NoError(t, p.c.ChangePassword(ctx, "planner-password", "new-password-1"))
	_, err = p.c.Token(ctx)
	require.Equal(t, 401, client.StatusCode(err))
	_, err = e.anon.Login(ctx, "planner", "new-password-1")
	require.NoError(t, err)

	// a disabled user cannot log in
	a := e.admin()
	_, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Disabled: ptr(true)}, "disabled")
	require.NoError(t, err)
	_, err = e.anon.Login(ctx, "planner", "new-password-1")
	require.Equal(t, 401, client.StatusCode(err))
}

func TestPrefixAndCORS(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Prefix: "/api/v1", CORSOrigins: []string{"https://app.example"}}})
	ctx := context.Background()
	a := e.admin()
	_, err := a.c.Status(ctx)
	require.NoError(t, err)
	status, _, _ := e.raw("GET", "/health", nil, nil)
	require.Equal(t, 404, status, "outside the prefix")
	status, _, _ = e.raw("GET", "/api/v1/health", nil, nil)
	require.Equal(t, 200, status)
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/api/v1/executions", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	require.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

// TestStripPrefix mounts the handler in a host mux with http.StripPrefix.
func TestStripPrefix(t *testing.T) {
	e := newEnv(t, envOpts{})
	mux := http.NewServeMux()
	mux.Handle("/solver/", http.StripPrefix("/solver", e.h))
	u := serve(t, mux)
	tok, err := client.New(u+"/solver").Login(context.Background(), "admin", "admin-password")
	require.NoError(t, err)
	jt, err := client.New(u+"/solver", client.WithToken(tok.Token)).GetJobType(context.Background(), "sum")
	require.NoError(t, err)
	require.JSONEq(t, string(sumInstance), string(jt.InstanceSchema))
}

// An API key is resolved in one script: it stamps the key's last use,
// answers for its user's current state (disabled or deleted: 401), and a
// revoked key neither works nor comes back from the stamp.
func TestAPIKeyLookup(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef")}})
	ctx := context.Background()
	p := e.addUser("keyholder", api.RolePlanner)
	k, err := p.c.CreateAPIKey(ctx, api.APIKeyCreate{Name: "ci"})
	require.NoError(t, err)
	require.Nil(t, k.LastUsedAt)
	kc := e.client(client.WithToken(k.Key))
	info, err := kc.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "api_key", info.Principal.Source)
	require.Equal(t, p.user.ID, info.Principal.ID)
	require.Equal(t, api.RolePlanner, info.Principal.Role)
	keys, err := p.c.ListAPIKeys(ctx, client.Page{})
	require.NoError(t, err)
	require.Len(t, keys.APIKeys, 1)
	require.NotNil(t, keys.APIKeys[0].LastUsedAt, "a used key has its last use stamped")

	// a wrong secret with the right prefix
	_, err = e.client(client.WithToken(k.Key[:len(k.Key)-2] + "xx")).Token(ctx)
	require.Equal(t, 401, client.StatusCode(err))

	// disabled user: refused; enabled again: accepted
	a := e.admin()
	_, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Disabled: ptr(true)}, "disabled")
	require.NoError(t, err)
	_, err = kc.Token(ctx)
	require.Equal(t, 401, client.StatusCode(err))
	_, err = a.c.PatchUser(ctx, p.user.ID, api.UserPatch{Disabled: ptr(false)}, "disabled")
	require.NoError(t, err)
	_, err = kc.Token(ctx)
	require.NoError(t, err)
	e.login(p) // disabling ended its login tokens

	// revoked: refused, and the refused call leaves no record behind
	require.NoError(t, p.c.DeleteAPIKey(ctx, k.ID))
	_, err = kc.Token(ctx)
	require.Equal(t, 401, client.StatusCode(err))
	rdb, prefix := serviceredis.Of(e.svc)
	n, err := rdb.Exists(ctx, prefix+":k:"+k.ID).Result()
	require.NoError(t, err)
	require.Zero(t, n)

	// a key whose user was deleted is refused
	q := e.addUser("gone", api.RolePlanner)
	k2, err := q.c.CreateAPIKey(ctx, api.APIKeyCreate{Name: "ci"})
	require.NoError(t, err)
	require.NoError(t, a.c.DeleteUser(ctx, q.user.ID))
	_, err = e.client(client.WithToken(k2.Key)).Token(ctx)
	require.Equal(t, 401, client.StatusCode(err))
}

// actors of the matrix, in column order.
var actors = []string{"anonymous", "viewer", "owner", "other", "admin", "service", "jobkey"}

// fixture is what one matrix cell works on: objects of planner "owner".
type fixture struct {
	exec, execKey string // a finished execution and its job key
	slow, slowKey string // a running execution (for stop) and its key
	inst          string
	user          string // a throwaway user
	apiKey        string // an API key of owner
}

type cell struct {
	method, path string
	body         func(f *fixture, actor string) (io.Reader, string)
	// slow: the cell needs the running execution (path uses {slow}).
	slow bool
	// relogin: the cell invalidates the actor's token.
	relogin bool
	want    [7]int
}

func jsonBody(v any) func(*fixture, string) (io.Reader, string) {
	return func(*fixture, string) (io.Reader, string) {
		b, _ := json.Marshal(v)
		return bytes.NewReader(b), "application/json"
	}
}

func fileBody(field, name, content string) func(*fixture, string) (io.Reader, string) {
	return func(*fixture, string) (io.Reader, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile(field, name)
		fw.Write([]byte(content))
		mw.Close()
		return &buf, mw.FormDataContentType()
	}
}

const (
	A = 401 // anonymous
	F = 403
	N = 404
)

func matrixCells() []cell {
	read := [7]int{A, 200, 200, N, 200, 200, 200}     // read an owned execution; job key ok
	readNoKey := [7]int{A, 200, 200, N, 200, 200, F}  // read an owned instance
	write := [7]int{A, F, 200, N, 200, 200, F}        // change an owned object
	del := [7]int{A, F, 204, N, 204, 204, F}          // delete an owned object
	list := [7]int{A, 200, 200, 200, 200, 200, F}     // read a collection
	create := [7]int{A, F, 201, 201, 201, 201, F}     // create
	adminOnly := [7]int{A, F, F, F, 200, F, F}        // admin
	ops := [7]int{A, F, F, F, 200, 200, F}            // admin and service
	anyUser := [7]int{A, 200, 200, 200, 200, 200, F}  // any account
	open := [7]int{200, 200, 200, 200, 200, 200, 200} // no credentials
	return []cell{
		{method: "GET", path: "/health", want: open},
		{method: "GET", path: "/version", want: list},
		{method: "GET", path: "/status", want: list},
		{method: "GET", path: "/openapi.json", want: list},
		{method: "POST", path: "/login", body: jsonBody(api.LoginRequest{Username: "viewer", Password: "viewer-password"}), want: open},
		{method: "POST", path: "/signup", body: func(_ *fixture, actor string) (io.Reader, string) {
			return jsonBody(api.SignupRequest{Username: "new-" + actor + fmt.Sprint(time.Now().UnixNano()), Password: "long-enough"})(nil, "")
		}, want: [7]int{201, 201, 201, 201, 201, 201, 201}},
		{method: "GET", path: "/token", want: anyUser},
		{method: "GET", path: "/user", want: anyUser},
		{method: "PUT", path: "/user/password", relogin: true, body: func(_ *fixture, actor string) (io.Reader, string) {
			pw := map[string]string{"viewer": "viewer-password", "owner": "owner-password", "other": "other-password", "admin": "admin-password", "service": "service-password"}[actor]
			return jsonBody(api.PasswordChange{CurrentPassword: pw, NewPassword: pw})(nil, "")
		}, want: [7]int{A, 204, 204, 204, 204, 204, F}},

		{method: "GET", path: "/users", want: adminOnly},
		{method: "POST", path: "/users", body: func(_ *fixture, actor string) (io.Reader, string) {
			return jsonBody(api.UserCreate{Username: "u-" + actor + fmt.Sprint(time.Now().UnixNano()), Password: "long-enough", Role: "viewer"})(nil, "")
		}, want: [7]int{A, F, F, F, 201, F, F}},
		{method: "GET", path: "/users/{user}", want: adminOnly},
		{method: "PATCH", path: "/users/{user}", body: jsonBody(map[string]any{"email": "x@example.com"}), want: adminOnly},
		{method: "DELETE", path: "/users/{user}", want: [7]int{A, F, F, F, 204, F, F}},
		{method: "POST", path: "/apiKeys", body: jsonBody(api.APIKeyCreate{Name: "k"}), want: [7]int{A, 201, 201, 201, 201, 201, F}},
		{method: "GET", path: "/apiKeys", want: anyUser},
		{method: "GET", path: "/apiKeys/{apikey}", want: [7]int{A, N, 200, N, 200, N, F}},
		{method: "DELETE", path: "/apiKeys/{apikey}", want: [7]int{A, N, 204, N, 204, N, F}},

		{method: "GET", path: "/jobTypes", want: list},
		{method: "GET", path: "/jobTypes/sum", want: list},
		{method: "PATCH", path: "/jobTypes/echo?update_mask=is_paused", body: jsonBody(map[string]any{"is_paused": false}), want: adminOnly},

		{method: "POST", path: "/instances", body: jsonBody(map[string]any{"job_type": "sum", "data": map[string]any{"values": []int{1}}}), want: create},
		{method: "POST", path: "/instances", body: fileBody("file", "m.lp", "max: x;"), want: create},
		{method: "GET", path: "/instances", want: list},
		{method: "GET", path: "/instances/{inst}", want: readNoKey},
		{method: "GET", path: "/instances/{inst}/data", want: readNoKey},
		{method: "PATCH", path: "/instances/{inst}", body: jsonBody(map[string]any{"name": "n"}), want: write},
		{method: "DELETE", path: "/instances/{inst}", want: del},
		{method: "POST", path: "/instances/{inst}/checks", want: readNoKey},

		{method: "POST", path: "/executions", body: jsonBody(map[string]any{"job_type": "echo", "instance": map[string]any{"x": 1}}), want: create},
		{method: "GET", path: "/executions", want: list},
		{method: "DELETE", path: "/executions?finished_before=2000-01-01T00:00:00Z", want: adminOnly},
		{method: "GET", path: "/executions/{exec}", want: read},
		{method: "PATCH", path: "/executions/{exec}", body: jsonBody(map[string]any{"name": "n"}), want: write},
		{method: "DELETE", path: "/executions/{exec}", want: del},
		{method: "GET", path: "/executions/{exec}/status", want: read},
		{method: "PUT", path: "/executions/{slow}/status", slow: true, body: jsonBody(map[string]any{"state": "stopped"}), want: [7]int{A, F, 200, N, 200, 200, 200}},
		{method: "GET", path: "/executions/{exec}/data", want: read},
		{method: "GET", path: "/executions/{exec}/log", want: read},
		{method: "GET", path: "/executions/{exec}/events", want: read},
		{method: "POST", path: "/executions/{exec}/relaunch", want: write},
		{method: "GET", path: "/executions/{exec}/files", want: read},
		{method: "POST", path: "/executions/{exec}/files", body: fileBody("file", "out.txt", "data"), want: [7]int{A, F, 201, N, 201, 201, 201}},
		{method: "GET", path: "/executions/{exec}/files/report.txt", want: read},

		{method: "GET", path: "/queues", want: ops},
		{method: "POST", path: "/queues/default/pause", want: adminOnly},
		{method: "POST", path: "/queues/default/resume", want: adminOnly},
		{method: "GET", path: "/workers", want: ops},
	}
}

// TestAuthorizationMatrix calls every route as every kind of caller, each
// on fresh objects of planner "owner", and checks the status.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{AllowSignup: true}})
	ctx := context.Background()
	e.addUser("viewer", api.RoleViewer)
	owner := e.addUser("owner", api.RolePlanner)
	e.addUser("other", api.RolePlanner)
	e.addUser("service", api.RoleService)
	e.admin()
	// make sure the default queue exists for pause/resume
	_, err := owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`)}, 5*time.Second)
	require.NoError(t, err)

	newFixture := func(slow bool) *fixture {
		f := &fixture{}
		ex, err := owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{"v":1}`)}, 0)
		require.NoError(t, err)
		f.exec, f.execKey = ex.ID, ex.JobKey
		_, err = owner.c.UploadFile(ctx, ex.ID, "report.txt", "text/plain", strings.NewReader("r"))
		require.NoError(t, err)
		if slow {
			ex, err = owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
			require.NoError(t, err)
			f.slow, f.slowKey = ex.ID, ex.JobKey
		}
		in, err := owner.c.CreateInstance(ctx, api.InstanceCreate{JobType: "sum", Data: json.RawMessage(`{"values":[2]}`)})
		require.NoError(t, err)
		f.inst = in.ID
		u, err := e.admin().c.CreateUser(ctx, api.UserCreate{Username: fmt.Sprintf("tmp%d", time.Now().UnixNano()), Password: "long-enough", Role: "viewer"})
		require.NoError(t, err)
		f.user = u.ID
		k, err := owner.c.CreateAPIKey(ctx, api.APIKeyCreate{Name: "fx"})
		require.NoError(t, err)
		f.apiKey = k.ID
		return f
	}

	for _, c := range matrixCells() {
		for i, who := range actors {
			name := fmt.Sprintf("%s %s as %s", c.method, c.path, who)
			f := newFixture(c.slow)
			path := strings.NewReplacer("{exec}", f.exec, "{slow}", f.slow, "{inst}", f.inst, "{user}", f.user, "{apikey}", f.apiKey).Replace(c.path)
			var body io.Reader
			ct := ""
			if c.body != nil {
				body, ct = c.body(f, who)
			}
			hdr := http.Header{}
			if ct != "" {
				hdr.Set("Content-Type", ct)
			}
			switch who {
			case "anonymous":
			case "jobkey":
				key := f.execKey
				if c.slow {
					key = f.slowKey
				}
				hdr.Set("X-Job-Key", key)
			default:
				a := e.users[who]
				tok, err := e.anon.Login(ctx, a.username, a.password)
				require.NoError(t, err)
				hdr.Set("Authorization", "Bearer "+tok.Token)
			}
			if c.slow {
				require.Eventually(t, func() bool {
					s, err := owner.c.ExecutionStatus(ctx, f.slow)
					return err == nil && s.State == "running"
				}, 10*time.Second, 10*time.Millisecond, name)
			}
			status, ctype, b := e.raw(c.method, path, body, hdr)
			require.Equal(t, c.want[i], status, "%s: %s", name, b)
			if status >= 400 {
				require.Equal(t, "application/problem+json", ctype, name)
			}
			if c.relogin {
				for _, a := range e.users {
					e.login(a)
				}
			}
			if c.slow {
				_, _ = e.admin().c.StopExecution(ctx, f.slow)
			}
		}
	}

	// No object of one planner is visible to another.
	other := e.users["other"]
	ol, err := other.c.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{Limit: 1000})
	require.NoError(t, err)
	for _, x := range ol.Executions {
		require.Equal(t, other.user.ID, x.Owner)
	}
	il, err := other.c.ListInstances(ctx, client.Page{Limit: 1000})
	require.NoError(t, err)
	for _, x := range il.Instances {
		require.Equal(t, other.user.ID, x.Owner)
	}
	ol, err = other.c.ListExecutions(ctx, client.ExecutionFilter{Owner: owner.user.ID}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, ol.Executions)
	own, err := owner.c.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.NoError(t, err)
	require.NotEmpty(t, own.Executions)
}

// TestSharing: with Sharing on, planners see each other's objects but
// cannot change them.
func TestSharing(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{Sharing: true}})
	ctx := context.Background()
	owner := e.addUser("owner", api.RolePlanner)
	other := e.addUser("other", api.RolePlanner)
	ex, err := owner.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	_, err = other.c.GetExecution(ctx, ex.ID)
	require.NoError(t, err)
	l, err := other.c.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 1, l.TotalEntries)
	_, err = other.c.PatchExecution(ctx, ex.ID, api.ExecutionPatch{Name: ptr("x")})
	require.Equal(t, 403, client.StatusCode(err))
	require.Equal(t, 403, client.StatusCode(other.c.DeleteExecution(ctx, ex.ID)))
}
