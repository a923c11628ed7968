package prom_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/prom"
)

// Count a Service's executions and serve them to Prometheus.
func Example() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: slog.New(slog.DiscardHandler)})
	defer svc.Close()
	_ = svc.Register(job.Sync("double", func(ctx context.Context, jc *job.Context) (any, error) { return 2, nil }))

	m, err := prom.New(svc, prom.Options{}) // a registry of its own
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, _ = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "double", Instance: json.RawMessage(`{}`)})

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "solvekit_executions_finished_total") {
			fmt.Println(line)
		}
	}
	// Output: solvekit_executions_finished_total{job_type="double",solver_status="optimal",state="succeeded"} 1
}
