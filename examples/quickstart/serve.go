package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/transport/httpapi"
)

func init() { serveFunc = serve }

// serve mounts the REST API on addr with a fresh admin account, prints an
// admin token and three curl lines (submit a knapsack, read its status,
// read its solution), and serves until ctx ends.
func serve(ctx context.Context, svc *solvekit.Service, addr string) error {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	password := hex.EncodeToString(pw)
	h, err := httpapi.New(svc, httpapi.Options{
		BootstrapAdmin: &httpapi.BootstrapAdmin{Username: "admin", Password: password},
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
	auth := `-H "Authorization: Bearer ` + token + `"`
	instance := `{"job_type":"knapsack","instance":{"capacity":10,"items":[{"name":"map","weight":5,"value":10},{"name":"compass","weight":4,"value":40},{"name":"water","weight":6,"value":30},{"name":"sandwich","weight":3,"value":50}]}}`
	fmt.Printf("\nsolvekit REST API on %s (admin password %s)\n", base, password)
	fmt.Printf("admin token:\n%s\n\n", token)
	fmt.Println("submit a knapsack, then read its status and its solution:")
	fmt.Printf("ID=$(curl -s %s -H 'Content-Type: application/json' -d '%s' %s/executions | sed -E 's/^\\{\"id\":\"([^\"]+)\".*/\\1/'); echo $ID\n", auth, instance, base)
	fmt.Printf("curl -s %s %s/executions/$ID/status\n", auth, base)
	fmt.Printf("curl -s %s %s/executions/$ID/data\n", auth, base)
	fmt.Printf("\nOpenAPI: curl -s %s %s/openapi.json   (Ctrl-C stops)\n", auth, base)

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

// login asks the handler itself for a token, without a network round trip.
func login(h http.Handler, user, password string) (string, error) {
	body, _ := json.Marshal(httpapi.LoginRequest{Username: user, Password: password})
	req := httptest.NewRequest("POST", "/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var tok httpapi.TokenResponse
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
