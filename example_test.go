package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: quiet()})
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
	workErr := make(chan error, 1)
	go func() { workErr <- svc.Work(workCtx) }() // a worker in this process
	defer func() {
		stop()
		if err := <-workErr; err != nil { // e.g. its queue server could not start
			panic(err)
		}
	}()

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
	svc, _ := solvekit.New(context.Background(), solvekit.Config{Logger: quiet()})
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
	svc, _ := solvekit.New(context.Background(), solvekit.Config{Logger: quiet()})
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
	svc, _ := solvekit.New(context.Background(), solvekit.Config{Logger: quiet()})
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
	defer work(svc)() // a worker in this process, as in Example

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

// quiet is a logger that discards the service's own logs in examples.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newService is a Service on the embedded Redis with the job types defs.
func newService(ctx context.Context, defs ...*job.Definition) *solvekit.Service {
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	if err != nil {
		panic(err)
	}
	if err := svc.Register(defs...); err != nil {
		panic(err)
	}
	return svc
}

// work runs a worker until the returned stop is called.
func work(svc *solvekit.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Work(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			panic(err)
		}
	}
}

// Middleware wraps every job: here it logs each attempt with its job type
// and times it, as a metrics or tracing middleware would.
func ExampleConfig_middleware() {
	timing := func(next job.Func) job.Func {
		return func(ctx context.Context, jc *job.Context) (any, error) {
			fmt.Println("start", jc.JobType, "attempt", jc.Attempt)
			start := time.Now()
			v, err := next(ctx, jc)
			jc.Logger.Info("attempt done", "took", time.Since(start), "err", err)
			fmt.Println("end", jc.JobType, "ok:", err == nil)
			return v, err
		}
	}
	ctx := context.Background()
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet(), Middleware: []job.Middleware{timing}})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	_ = svc.Register(job.Sync("hello", func(ctx context.Context, jc *job.Context) (any, error) {
		return "hello", nil
	}))
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "hello", Instance: json.RawMessage(`{}`)})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.State)
	// Output:
	// start hello attempt 1
	// end hello ok: true
	// succeeded
}

// Subscribe delivers this process's state changes; the callback must not
// block, so it hands them to a buffered channel here.
func ExampleService_Subscribe() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	defer svc.Close()
	_ = svc.Register(job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) { return 6, nil }))
	defer work(svc)()

	changes := make(chan solvekit.Transition, 64)
	unsubscribe := svc.Subscribe(func(tr solvekit.Transition) {
		select {
		case changes <- tr:
		default: // full: drop rather than block the worker
		}
	})
	defer unsubscribe()

	if _, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{}`)}); err != nil {
		panic(err)
	}
	for tr := range changes {
		fmt.Printf("%q -> %s (%s)\n", tr.From, tr.To, tr.Reason)
		if tr.To.Terminal() {
			break
		}
	}
	// Output:
	// "" -> queued (submit)
	// "queued" -> running (start)
	// "running" -> succeeded (finish)
}

// An instance stored once can be solved many times: submit it by ID.
func ExampleService_CreateInstance() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	defer svc.Close()
	_ = svc.Register(job.SyncOf("sum", func(ctx context.Context, jc *job.Context, in struct {
		Values []float64 `json:"values"`
	}) (float64, error) {
		total := 0.0
		for _, v := range in.Values {
			total += v
		}
		return total, nil
	}))

	in, err := svc.CreateInstance(ctx, &job.Instance{Name: "small", JobType: "sum"}, []byte(`{"values":[1,2,3]}`))
	if err != nil {
		panic(err)
	}
	for i := 0; i < 2; i++ {
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", InstanceID: in.ID})
		if err != nil {
			panic(err)
		}
		sol, _ := svc.Solution(ctx, e.ID)
		fmt.Println(e.State, e.InstanceID == in.ID, string(sol))
	}
	// Output:
	// succeeded true 6
	// succeeded true 6
}

// Follow streams an execution's events until it ends; here its state
// changes.
func ExampleService_Follow() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	defer svc.Close()
	_ = svc.Register(job.Async("work", func(ctx context.Context, jc *job.Context) (any, error) {
		jc.Logger.Info("working")
		jc.Progress(1, "done")
		return "ok", nil
	}))
	defer work(svc)()

	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "work", Instance: json.RawMessage(`{}`)})
	if err != nil {
		panic(err)
	}
	logs := 0
	for ev, err := range svc.Follow(ctx, e.ID, solvekit.FollowOptions{}) {
		if err != nil {
			panic(err)
		}
		switch ev.Type {
		case "status":
			var st struct {
				State job.State `json:"state"`
			}
			_ = json.Unmarshal(ev.Data, &st)
			fmt.Println("status", st.State)
		case "log":
			logs++
		}
	}
	fmt.Println("log records:", logs)
	// Output:
	// status queued
	// status running
	// status succeeded
	// log records: 1
}

// A paused job type refuses new executions on every process sharing the
// Redis, until it is resumed.
func ExampleService_PauseJobType() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	defer svc.Close()
	_ = svc.Register(job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) { return 1, nil }))
	req := solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{}`)}

	_ = svc.PauseJobType(ctx, "echo", true)
	_, err := svc.Submit(ctx, req)
	fmt.Println(svc.JobTypePaused("echo"), errors.Is(err, job.ErrUnavailable))

	_ = svc.PauseJobType(ctx, "echo", false)
	e, err := svc.Submit(ctx, req)
	fmt.Println(svc.JobTypePaused("echo"), err == nil && e.State == job.StateSucceeded)
	// Output:
	// true true
	// false true
}

// Queues shows every queue's counts: here one execution waits in the
// "default" queue, since no worker runs.
func ExampleService_Queues() {
	ctx := context.Background()
	svc, _ := solvekit.New(ctx, solvekit.Config{Logger: quiet(), Queues: map[string]int{"default": 1, "urgent": 5}})
	defer svc.Close()
	_ = svc.Register(job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) { return 0, nil }))
	if _, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{}`)}); err != nil {
		panic(err)
	}
	qs, err := svc.Queues(ctx)
	if err != nil {
		panic(err)
	}
	for _, q := range qs {
		fmt.Println(q.Name, "pending:", q.Pending, "paused:", q.Paused)
	}
	// Output:
	// default pending: 1 paused: false
	// urgent pending: 0 paused: false
}
