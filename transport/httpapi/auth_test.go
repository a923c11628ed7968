package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	e.addUser("planner", httpapi.RolePlanner)
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
	e := newEnv(t, envOpts{opts: httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef")}})
	ctx := context.Background()
	p := e.addUser("planner", httpapi.RolePlanner)
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
	k, err := p.c.CreateAPIKey(ctx, httpapi.APIKeyCreate{Name: "ci"})
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
	_, err = a.c.PatchUser(ctx, p.user.ID, httpapi.UserPatch{Disabled: ptr(true)}, "disabled")
	require.NoError(t, err)
	_, err = e.anon.Login(ctx, "planner", "new-password-1")
	require.Equal(t, 401, client.StatusCode(err))
}

func TestBootstrapToken(t *testing.T) {
	var logged strings.Builder
	e := newEnv(t, envOpts{opts: httpapi.Options{Authenticator: httpapi.AuthenticatorFunc(func(*http.Request) (*httpapi.Principal, error) { return nil, nil })}})
	_ = logged
	ctx := context.Background()
	// with an Authenticator no token is made; build a second handler without
	h, err := httpapi.New(e.svc, httpapi.Options{Logger: captureLogger(&logged)})
	require.NoError(t, err)
	tok := between(logged.String(), "bootstrap_token=", " ")
	require.True(t, strings.HasPrefix(tok, "bt_"), logged.String())
	srvURL := serve(t, h)
	bc := client.New(srvURL, client.WithToken(tok))
	_, err = bc.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{})
	require.Equal(t, 403, client.StatusCode(err), "the bootstrap token only creates the first admin")
	_, err = bc.CreateUser(ctx, httpapi.UserCreate{Username: "root", Password: "long-enough", Role: "admin"})
	require.NoError(t, err)
	_, err = bc.CreateUser(ctx, httpapi.UserCreate{Username: "root2", Password: "long-enough", Role: "admin"})
	require.Equal(t, 401, client.StatusCode(err), "the bootstrap token works once")
	_, err = client.New(srvURL).Login(ctx, "root", "long-enough")
	require.NoError(t, err)
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
