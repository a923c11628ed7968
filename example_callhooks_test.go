package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// A CallHook around every submit: package tracing's Tracer.CallHook makes
// a span of each in the same way, and leaves its traceparent in the ctx
// for the execution to keep.
func ExampleCallHook() {
	ctx := context.Background()
	audit := func(ctx context.Context, c solvekit.Call) (context.Context, func(solvekit.CallResult)) {
		fmt.Println("start", c.Op, c.JobType)
		ctx = solvekit.WithTraceParent(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		return ctx, func(r solvekit.CallResult) {
			fmt.Println("end", c.Op, len(r.Executions), r.Err == nil)
		}
	}
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: slog.New(slog.DiscardHandler),
		CallHooks: []solvekit.CallHook{audit}})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	_ = svc.Register(job.Sync("traceparent", func(ctx context.Context, jc *job.Context) (any, error) {
		return jc.TraceParent, nil
	}))
	e, _ := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "traceparent", Instance: json.RawMessage(`{}`)})
	sol, _ := svc.Solution(ctx, e.ID)
	fmt.Println(string(sol))
	// Output:
	// start submit traceparent
	// end submit 1 true
	// "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
}

// Counting the operational signals a Service reports besides state
// changes (package prom turns them into metrics): callback attempts by
// outcome, heartbeat lag, failed Redis commands by class.
func ExampleService_SubscribeSignals() {
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	unsubscribe := svc.SubscribeSignals(func(sg solvekit.Signal) {
		switch sg.Kind {
		case solvekit.SignalCallback:
			slog.Info("callback attempt", "execution", sg.ID, "outcome", sg.Outcome, "status", sg.StatusCode)
		case solvekit.SignalHeartbeat:
			slog.Info("heartbeat", "lag", sg.Duration, "running", sg.Running)
		case solvekit.SignalRedisError:
			slog.Warn("redis error", "class", sg.Outcome, "command", sg.Command, "err", sg.Err)
		}
	})
	defer unsubscribe()
}
