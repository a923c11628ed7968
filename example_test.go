package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

type sumInstance struct {
	Values []float64 `json:"values" validate:"min=1"`
}

// A typed async job on the embedded Redis: register, work, submit, wait.
func Example() {
	ctx := context.Background()
	svc, err := solvekit.New(solvekit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	sum := job.AsyncOf("sum", func(ctx context.Context, jc *job.Context, in sumInstance) (map[string]float64, error) {
		total := 0.0
		for _, v := range in.Values {
			total += v
		}
		jc.Logger.Info("summed", "n", len(in.Values))
		return map[string]float64{"sum": total}, nil
	}, job.WithInstanceSchema([]byte(`{"type":"object","required":["values"],
		"properties":{"values":{"type":"array","items":{"type":"number"}}}}`)))
	if err := svc.Register(sum); err != nil {
		panic(err)
	}
	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	go svc.Work(workCtx)

	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2,3]}`)})
	if err != nil {
		panic(err)
	}
	e, _ = svc.Wait(ctx, e.ID)
	sol, _ := svc.Solution(ctx, e.ID)
	fmt.Println(e.State, e.SolverStatus, string(sol))
	// Output: succeeded optimal {"sum":6}
}

// Invalid input is refused with every violation and its JSON pointer.
func ExampleService_Submit_invalid() {
	ctx := context.Background()
	svc, _ := solvekit.New(solvekit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer svc.Close()
	_ = svc.Register(job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) { return nil, nil },
		job.WithInstanceSchema([]byte(`{"type":"object","required":["values"],
			"properties":{"values":{"type":"array","items":{"type":"number","minimum":0}}}}`)),
		job.WithConfigSchema([]byte(`{"type":"object","properties":{"scale":{"type":"number","default":1}}}`))))

	_, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum",
		Instance: json.RawMessage(`{"values":[1,-2,"x"]}`), Config: json.RawMessage(`{"scale":"big"}`)})
	var je *job.Error
	if errors.As(err, &je) {
		for _, v := range je.Violations {
			fmt.Println(v.Pointer, v.Keyword)
		}
	}
	// Output:
	// /instance/values/1 minimum
	// /instance/values/2 type
	// /config/scale type
}

// A sync job runs inside Submit and is recorded like an async one.
func ExampleService_Submit_sync() {
	ctx := context.Background()
	svc, _ := solvekit.New(solvekit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer svc.Close()
	_ = svc.Register(job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) {
		return json.RawMessage(jc.Instance), nil
	}))
	e, _ := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"hello":"world"}`)})
	sol, _ := svc.Solution(ctx, e.ID)
	fmt.Println(e.State, string(sol))
	// Output: succeeded {"hello":"world"}
}

// Cancel stops a running job; its last incumbent becomes the solution.
func ExampleService_Cancel() {
	ctx := context.Background()
	svc, _ := solvekit.New(solvekit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer svc.Close()
	_ = svc.Register(job.Async("count", func(ctx context.Context, jc *job.Context) (any, error) {
		for i := 1; ; i++ {
			_ = jc.Incumbent(map[string]int{"count": i}, float64(i))
			select {
			case <-ctx.Done():
				return nil, ctx.Err() // solvekit keeps the last incumbent
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	go svc.Work(workCtx)

	e, _ := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "count", Instance: json.RawMessage(`{}`)})
	for e.State != job.StateRunning || e.Objective == nil {
		time.Sleep(10 * time.Millisecond)
		e, _ = svc.Get(ctx, e.ID)
	}
	_ = svc.Cancel(ctx, e.ID)
	e, _ = svc.Wait(ctx, e.ID)
	fmt.Println(e.State, e.SolverStatus, e.HasSolution)
	// Output: stopped feasible true
}
