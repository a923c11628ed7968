package solvekittest_test

import (
	"context"
	"testing"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

type sumInput struct {
	Values []float64 `json:"values" validate:"min=1"`
}

// sumJob is the job type under test; in your code, the definition your
// package registers.
var sumJob = job.AsyncOf("sum", func(ctx context.Context, jc *job.Context, in sumInput) (map[string]float64, error) {
	total := 0.0
	for _, v := range in.Values {
		total += v
	}
	jc.Logger.Info("summed", "n", len(in.Values))
	return map[string]float64{"sum": total}, nil
})

// testSum is a test of sumJob as it would sit in your package's _test.go
// file, named TestSum there: Run starts a Service with a worker on an
// embedded Redis private to the test, runs one instance and returns the
// terminal record, the solution and the logs. (This package's tests run
// it.)
func testSum(t *testing.T) {
	res := solvekittest.Run(t, sumJob, `{"values":[1,2,3]}`)
	if res.Execution.State != job.StateSucceeded {
		t.Fatalf("state %s, error %+v", res.Execution.State, res.Execution.Error)
	}
	if got := string(res.Solution); got != `{"sum":6}` {
		t.Fatalf("solution %s", got)
	}
	if len(res.Logs) != 1 || res.Logs[0].Message != "summed" {
		t.Fatalf("logs %+v", res.Logs)
	}
}

// A test of a job type: this whole file is the example (see testSum).
func Example() {}
