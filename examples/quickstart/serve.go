package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

func init() { serveFunc = serve }

// serve mounts the REST API (and its dashboard under /ui/) on addr with a fresh admin account, writes to
// w the admin token once, as a TOKEN= line, and three curl lines that use
// it (submit a knapsack and wait for it, read its status, read its
// solution), and serves until ctx ends. The lines are meant to be pasted
// into a shell as they are (.ci/quickstart-curl.sh does).
func serve(ctx context.Context, svc *solvekit.Service, addr string, w io.Writer) error {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	password := hex.EncodeToString(pw)
	h, err := httpapi.New(svc, httpapi.Options{
		BootstrapAdmin: &httpapi.BootstrapAdmin{Username: "admin", Password: password},
		// On the embedded Redis each run draws its own signing secret; on
		// a real Redis the secret must come from configuration.
		JWTSecret: []byte(os.Getenv("SOLVEKIT_JWT_SECRET")),
		// The web dashboard under /ui/ (sign in as admin).
		Dashboard: true,
	})
	if err != nil {
		return err
	}
	token, err := login(h, "admin", password)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + displayAddr(ln.Addr().(*net.TCPAddr), addr)
	printLines(w, base, token, password)

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// printLines writes the token once and the curl lines that use it.
func printLines(w io.Writer, base, token, password string) {
	auth := `-H "Authorization: Bearer $TOKEN"`
	instance := `{"job_type":"knapsack","instance":{"capacity":10,"items":[{"name":"map","weight":5,"value":10},{"name":"compass","weight":4,"value":40},{"name":"water","weight":6,"value":30},{"name":"sandwich","weight":3,"value":50}]}}`
	fmt.Fprintf(w, "\nsolvekit REST API on %s (user admin, password %s; -addr picks another address)\n", base, password)
	fmt.Fprintln(w, "paste into a shell: the admin token, then submit a knapsack (waiting up to 30 s for it), read its status and its solution:")
	fmt.Fprintf(w, "\nTOKEN=%s\n", token)
	fmt.Fprintf(w, "ID=$(curl -s %s -H 'Content-Type: application/json' -d '%s' '%s/executions?wait=30s' | sed -E 's/^\\{\"id\":\"([^\"]+)\".*/\\1/'); echo $ID\n", auth, instance, base)
	fmt.Fprintf(w, "curl -s %s %s/executions/$ID/status\n", auth, base)
	fmt.Fprintf(w, "curl -s %s %s/executions/$ID/data\n", auth, base)
	fmt.Fprintf(w, "\nDashboard: %s/ui/ (sign in as admin with the password above)\n", base)
	fmt.Fprintf(w, "OpenAPI: curl -s %s %s/openapi.json   (Ctrl-C stops)\n", auth, base)
}

// login asks the handler itself for a token, without a network round trip.
func login(h http.Handler, user, password string) (string, error) {
	body, _ := json.Marshal(api.LoginRequest{Username: user, Password: password})
	req := httptest.NewRequest("POST", "/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var tok api.TokenResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tok) != nil {
		return "", fmt.Errorf("login failed: %d %s", rec.Code, rec.Body.String())
	}
	return tok.Token, nil
}

// displayAddr turns a listener address into one a curl on this machine
// reaches ("localhost:8080" for ":8080").
func displayAddr(a *net.TCPAddr, requested string) string {
	host, _, _ := net.SplitHostPort(requested)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}
