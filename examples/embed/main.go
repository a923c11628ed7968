// Command embed mounts solvekit's REST API under /solver/ in an existing
// http.ServeMux, behind the host application's own authentication: the
// host's session header decides who the caller is (httpapi.Authenticator)
// and solvekit's built-in users are switched off.
//
//	go run ./examples/embed            # serve on :8081 until Ctrl-C
//	go run ./examples/embed -smoke     # call a few routes through the mux, then exit
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/solvekit/solvekit/examples/internal/scaffold"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// sessions stands for the host application's session store: session id →
// user and role.
var sessions = map[string]httpapi.Principal{
	"alice-session": {ID: "alice", Username: "alice", Role: api.RolePlanner},
	"bob-session":   {ID: "bob", Username: "bob", Role: api.RolePlanner},
	"ops-session":   {ID: "ops", Username: "ops", Role: api.RoleAdmin},
}

// hostAuth authenticates with the host's "X-Session" header.
type hostAuth struct{}

func (hostAuth) Authenticate(r *http.Request) (*httpapi.Principal, error) {
	sid := r.Header.Get("X-Session")
	if sid == "" {
		return nil, nil // no session: let solvekit try job keys, then refuse
	}
	p, ok := sessions[sid]
	if !ok {
		return nil, errors.New("unknown session")
	}
	return &p, nil
}

func main() {
	smoke := flag.Bool("smoke", false, "exercise the mounted API and exit")
	addr := flag.String("addr", ":8081", "address to serve on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *smoke); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, smoke bool) error {
	// A Service on the embedded Redis with a worker in this process.
	svc, stop, err := scaffold.Start(ctx, true, job.Async("square", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct {
			X float64 `json:"x"`
		}
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		jc.Logger.Info("squaring", "x", in.X)
		return map[string]float64{"y": in.X * in.X}, nil
	}, job.WithInstanceSchema([]byte(`{"type":"object","required":["x"],"properties":{"x":{"type":"number"}}}`))))
	if err != nil {
		return err
	}
	defer stop()

	api, err := httpapi.New(svc, httpapi.Options{
		Authenticator:      hostAuth{},
		DisableBuiltinAuth: true,
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	// The host's own mux: its pages, and solvekit under /solver/.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "host application home; the solver API lives under /solver/")
	})
	mux.Handle("/solver/", http.StripPrefix("/solver", api))

	ln, err := net.Listen("tcp", addr)
	if smoke {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	if smoke {
		return smokeTest(ctx, base)
	}
	fmt.Printf("host app on %s; try:\ncurl -s -H 'X-Session: alice-session' %s/solver/jobTypes\n", base, base)
	<-ctx.Done()
	return nil
}

func smokeTest(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The client sends the host's session header with every request.
	alice := client.New(base+"/solver", client.WithHeader("X-Session", "alice-session"))
	bob := client.New(base+"/solver", client.WithHeader("X-Session", "bob-session"))
	anon := client.New(base + "/solver")

	if _, err := anon.ListExecutions(ctx, client.ExecutionFilter{}, client.Page{}); client.StatusCode(err) != 401 {
		return fmt.Errorf("anonymous list: want 401, got %v", err)
	}
	e, err := alice.CreateExecution(ctx, api.ExecutionCreate{JobType: "square", Instance: json.RawMessage(`{"x":7}`)}, 10*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("alice: execution %s %s solution=%s\n", e.ID, e.State, e.Solution)
	if _, err := bob.GetExecution(ctx, e.ID); client.StatusCode(err) != 404 {
		return fmt.Errorf("bob reading alice's execution: want 404, got %v", err)
	}
	fmt.Println("bob:   cannot see alice's execution (404)")
	// The job key alone (no session) reads that one execution.
	jk := client.New(base+"/solver", client.WithJobKey(e.JobKey))
	st, err := jk.ExecutionStatus(ctx, e.ID)
	if err != nil {
		return err
	}
	fmt.Printf("job key: status %s\n", st.State)
	resp, err := http.Get(base + "/")
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("host:  GET / → %s", b)
	if !strings.Contains(string(b), "host application") {
		return errors.New("host route broken")
	}
	fmt.Println("smoke test passed")
	return nil
}
