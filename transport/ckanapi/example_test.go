package ckanapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/ckanapi"
)

// Serve ckan-service-provider's API under /ckan/ of a host mux, and submit
// a job as CKAN's datapusher does.
func Example() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: slog.New(slog.DiscardHandler)})
	defer svc.Close()
	_ = svc.Register(job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) {
		return "hello", nil
	}))

	mux := http.NewServeMux()
	mux.Handle("/ckan/", http.StripPrefix("/ckan", ckanapi.New(svc, ckanapi.Options{AdminKey: "change-me"})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Post(srv.URL+"/ckan/job/first", "application/json",
		strings.NewReader(`{"job_type": "echo", "api_key": "a-ckan-api-key"}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, strings.Contains(string(body), `"status":"complete"`), strings.Contains(string(body), `"job_key":`))
	// Output: 200 true true
}
