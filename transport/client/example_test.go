package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// A host application authenticates callers with its own session header;
// the client adds it to every request (WithHeader), waits for an
// execution (WaitExecution), relaunches it with a new config and waits
// for that too (RelaunchExecution), and lists by state.
func Example() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: quiet}) // embedded Redis
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	// scaleJob (client_test.go): y = factor * x, factor 2 by default.
	if err := svc.Register(scaleJob()); err != nil {
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

	h, err := httpapi.New(svc, httpapi.Options{Logger: quiet,
		Authenticator: httpapi.AuthenticatorFunc(func(r *http.Request) (*httpapi.Principal, error) {
			if r.Header.Get("X-Session") != "alice-session" { // the host's session check
				return nil, nil
			}
			return &httpapi.Principal{ID: "alice", Role: api.RolePlanner}, nil
		})})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	c := client.New(srv.URL, client.WithHeader("X-Session", "alice-session"))
	ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":21}`)}, 0)
	if err != nil {
		panic(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ex, err = c.WaitExecution(wctx, ex.ID)
	if err != nil {
		panic(err)
	}
	sol, err := c.ExecutionData(ctx, ex.ID, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(ex.State, ex.Attempt, string(sol))

	ex, err = c.RelaunchExecution(ctx, ex.ID, client.RelaunchRequest{Config: json.RawMessage(`{"factor":3}`), Wait: time.Minute})
	if err != nil {
		panic(err)
	}
	sol, err = c.ExecutionData(ctx, ex.ID, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(ex.State, ex.Attempt, string(sol))

	list, err := c.ListExecutions(ctx, client.ExecutionFilter{Status: record.StateSucceeded}, client.Page{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(list.Executions), "succeeded")
	// Output:
	// succeeded 1 {"y":42}
	// succeeded 2 {"y":63}
	// 1 succeeded
}
