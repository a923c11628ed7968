package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// reportJob is an async job that answers "done".
func reportJob() *job.Definition {
	return job.Async("report", func(ctx context.Context, jc *job.Context) (any, error) {
		return map[string]string{"report": "done"}, nil
	})
}

// reportService is a Service on the embedded Redis with the report job.
func reportService(ctx context.Context) *solvekit.Service {
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	if err != nil {
		panic(err)
	}
	if err := svc.Register(reportJob()); err != nil {
		panic(err)
	}
	return svc
}

// Submit with RunIn (or RunAt) stores the execution as scheduled; the
// scheduler of a process that runs Work queues it when it is due.
func ExampleService_Submit_runIn() {
	ctx := context.Background()
	svc := reportService(ctx)
	defer svc.Close()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "report", Instance: json.RawMessage(`{}`), RunIn: time.Second})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.State, e.RunAt.Sub(e.CreatedAt).Round(time.Second))

	defer work(svc)() // the scheduler runs in Work
	done, err := svc.Wait(ctx, e.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(done.State, !done.StartedAt.Before(*e.RunAt))
	// Output:
	// scheduled 1s
	// succeeded true
}

// CreateSchedule stores a periodic schedule; each tick of its cron spec
// (here every second, with the optional seconds field) creates one
// execution, listed by ListOptions.ScheduleID.
func ExampleService_CreateSchedule() {
	ctx := context.Background()
	svc := reportService(ctx)
	defer svc.Close()
	sc, err := svc.CreateSchedule(ctx, solvekit.ScheduleRequest{
		Cron: "* * * * * *", TimeZone: "Europe/Paris", JobType: "report", Instance: json.RawMessage(`{}`),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(sc.Enabled, sc.CatchUp)

	defer work(svc)() // the scheduler runs in Work
	for {
		es, _, err := svc.List(ctx, solvekit.ListOptions{ScheduleID: sc.ID, State: job.StateSucceeded})
		if err != nil {
			panic(err)
		}
		if len(es) > 0 {
			fmt.Println(es[0].ScheduleID == sc.ID, es[0].ID[:len(sc.ID)] == sc.ID)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	off := false
	sc, err = svc.UpdateSchedule(ctx, sc.ID, solvekit.ScheduleUpdate{Enabled: &off})
	if err != nil {
		panic(err)
	}
	fmt.Println(sc.Enabled, sc.NextRun == nil)
	// Output:
	// true skip
	// true true
	// false true
}
