package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// Mount the REST API under /solver/ in an existing mux, then drive it with
// the Go client: log in, submit an async job with ?wait=, read its solution.
func Example() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: quiet}) // embedded Redis
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	double := job.Async("double", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ X float64 }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		return map[string]float64{"y": 2 * in.X}, nil
	}, job.WithInstanceSchema([]byte(`{"type":"object","required":["x"],"properties":{"x":{"type":"number"}}}`)))
	if err := svc.Register(double); err != nil {
		panic(err)
	}
	workCtx, stopWork := context.WithCancel(ctx)
	workErr := make(chan error, 1)
	go func() { workErr <- svc.Work(workCtx) }()
	defer func() {
		stopWork()
		if err := <-workErr; err != nil {
			panic(err)
		}
	}()

	h, err := httpapi.New(svc, httpapi.Options{
		Prefix:         "/solver",
		BootstrapAdmin: &httpapi.BootstrapAdmin{Username: "admin", Password: "change-me-please"},
		Logger:         quiet,
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/solver/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := client.New(srv.URL + "/solver")
	tok, err := c.Login(ctx, "admin", "change-me-please")
	if err != nil {
		panic(err)
	}
	c = c.With(client.WithToken(tok.Token))

	// Bad input: 422 with the JSON pointer of every violation.
	_, err = c.CreateExecution(ctx, api.ExecutionCreate{JobType: "double", Instance: json.RawMessage(`{"x":"two"}`)}, 0)
	fmt.Println("invalid:", client.StatusCode(err))

	ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "double", Instance: json.RawMessage(`{"x":21}`)}, 10*time.Second)
	if err != nil {
		panic(err)
	}
	sol, err := c.ExecutionData(ctx, ex.ID, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(ex.State, string(sol))
	// Output:
	// invalid: 422
	// succeeded {"y":42}
}

// Serve the web dashboard beside the API: with Options.Dashboard its pages
// answer under <prefix>/ui/, and a browser without a session is sent to
// the login form.
func ExampleOptions_dashboard() {
	quiet := slog.New(slog.DiscardHandler)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: quiet}) // embedded Redis
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	h, err := httpapi.New(svc, httpapi.Options{
		Prefix:         "/solver",
		BootstrapAdmin: &httpapi.BootstrapAdmin{Username: "admin", Password: "change-me-please"},
		Dashboard:      true,
		Logger:         quiet,
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/solver/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv.URL + "/solver/ui/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))
	resp, err = noFollow.Get(srv.URL + "/solver/ui/executions")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))
	// Output:
	// 303 /solver/ui/login?next=%2Fsolver%2Fui%2F
	// 303 /solver/ui/login?next=%2Fsolver%2Fui%2Fexecutions
}
