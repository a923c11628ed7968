package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// A scale job multiplies the instance's "x" by the config's "factor".
func scaleJob() *job.Definition {
	return job.Sync("scale", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ X float64 }
		var cfg struct{ Factor float64 }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		return map[string]float64{"y": in.X * cfg.Factor}, nil
	}, job.WithConfigSchema([]byte(`{"type":"object","properties":{"factor":{"type":"number","default":2}}}`)))
}

// List pages through executions newest first, with filters; Update renames
// one or replaces its metadata.
func ExampleService_List() {
	ctx := context.Background()
	svc := newService(ctx, scaleJob())
	defer svc.Close()
	for i := 1; i <= 3; i++ {
		_, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "scale", Instance: json.RawMessage(fmt.Sprintf(`{"x":%d}`, i)),
			Metadata: map[string]string{"batch": "a"}})
		if err != nil {
			panic(err)
		}
	}
	page, total, err := svc.List(ctx, solvekit.ListOptions{JobType: "scale", State: job.StateSucceeded, Limit: 2})
	if err != nil {
		panic(err)
	}
	fmt.Println("total", total, "on this page", len(page))

	name := "the newest"
	e, err := svc.Update(ctx, page[0].ID, solvekit.ExecutionUpdate{Name: &name})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Name, e.Metadata["batch"])
	// Output:
	// total 3 on this page 2
	// the newest a
}

// Relaunch runs a finished execution again on the same instance, here with
// a new config; the previous result is replaced.
func ExampleService_Relaunch() {
	ctx := context.Background()
	svc := newService(ctx, scaleJob())
	defer svc.Close()
	defer work(svc)() // a relaunch runs on a worker, even for a sync job type
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "scale", Instance: json.RawMessage(`{"x":21}`)})
	if err != nil {
		panic(err)
	}
	sol, _ := svc.Solution(ctx, e.ID)
	fmt.Println("attempt", e.Attempt, string(sol))

	if _, err := svc.Relaunch(ctx, e.ID, solvekit.RelaunchRequest{Config: json.RawMessage(`{"factor":3}`)}); err != nil {
		panic(err)
	}
	e, err = svc.Wait(ctx, e.ID)
	if err != nil {
		panic(err)
	}
	sol, _ = svc.Solution(ctx, e.ID)
	fmt.Println("attempt", e.Attempt, e.State, string(sol))
	// Output:
	// attempt 1 {"y":42}
	// attempt 2 succeeded {"y":63}
}

// AddFiles attaches files to an execution (all of them or none); Files
// lists them and File reads one back.
func ExampleService_AddFiles() {
	ctx := context.Background()
	svc := newService(ctx, scaleJob())
	defer svc.Close()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "scale", Instance: json.RawMessage(`{"x":1}`)})
	if err != nil {
		panic(err)
	}
	_, err = svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{
		{Name: "report.txt", ContentType: "text/plain", Data: []byte("all good\n")},
		{Name: "plan.csv", ContentType: "text/csv", Data: []byte("day,load\n1,3\n")},
	}, 0)
	if err != nil {
		panic(err)
	}
	files, _ := svc.Files(ctx, e.ID)
	for _, f := range files {
		fmt.Println(f.Name, f.ContentType, f.Size)
	}
	_, data, _ := svc.File(ctx, e.ID, "report.txt")
	fmt.Print(string(data))
	// Output:
	// plan.csv text/csv 13
	// report.txt text/plain 9
	// all good
}

// reportJob is an async job that answers "done".
func reportJob() *job.Definition {
	return job.Async("report", func(ctx context.Context, jc *job.Context) (any, error) {
		return map[string]string{"report": "done"}, nil
	})
}

// Submit with RunIn (or RunAt) stores the execution as scheduled; the
// scheduler of a process that runs Work queues it when it is due.
func ExampleService_Submit_runIn() {
	ctx := context.Background()
	svc := newService(ctx, reportJob())
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
	svc := newService(ctx, reportJob())
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
