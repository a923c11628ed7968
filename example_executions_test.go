package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"

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

// scaleService is a Service on the embedded Redis with the scale job.
func scaleService(ctx context.Context) *solvekit.Service {
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet()})
	if err != nil {
		panic(err)
	}
	if err := svc.Register(scaleJob()); err != nil {
		panic(err)
	}
	return svc
}

// List pages through executions newest first, with filters; Update renames
// one or replaces its metadata.
func ExampleService_List() {
	ctx := context.Background()
	svc := scaleService(ctx)
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
	svc := scaleService(ctx)
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
	svc := scaleService(ctx)
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
