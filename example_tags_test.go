package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// WorkerTags routes work: this process's workers have a GPU, so they run
// the executions that require "gpu" (by their submit's RequireTags, or
// their job type's WithRequiredTags). A worker without the tag never
// takes them; an execution whose tags no worker has stays queued.
func ExampleConfig_workerTags() {
	ctx := context.Background()
	svc, err := solvekit.New(ctx, solvekit.Config{Logger: quiet(), WorkerTags: []string{"gpu"}})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	train := job.Async("train", func(ctx context.Context, jc *job.Context) (any, error) {
		return map[string]string{"model": "ready"}, nil
	}, job.WithRequiredTags("gpu"), job.WithTags("ml"))
	if err := svc.Register(train); err != nil {
		panic(err)
	}
	defer work(svc)()
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "train", Instance: json.RawMessage(`{}`), Tags: []string{"nightly"}})
	if err != nil {
		panic(err)
	}
	e, err = svc.Wait(ctx, e.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.State, e.RequireTags, e.Tags, e.Worker == svc.WorkerID())
	// Output:
	// succeeded [gpu] [nightly] true
}

// Tags labels records as pyfarm's tags do: list them with counts, filter
// a listing by one (through its own index), attach one to many records,
// and remove one from everything.
func ExampleService_Tags() {
	ctx := context.Background()
	svc := newService(ctx, scaleJob())
	defer svc.Close()
	var ids []string
	for i := 1; i <= 3; i++ {
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "scale", Instance: json.RawMessage(fmt.Sprintf(`{"x":%d}`, i)),
			Tags: []string{"batch-1"}})
		if err != nil {
			panic(err)
		}
		ids = append(ids, e.ID)
	}
	if _, err := svc.AttachTag(ctx, "checked", solvekit.TagTargets{ExecutionIDs: ids[:1]}); err != nil {
		panic(err)
	}
	tags, err := svc.Tags(ctx, solvekit.TagListOptions{})
	if err != nil {
		panic(err)
	}
	for _, t := range tags.Tags {
		fmt.Println(t.Name, t.Executions)
	}
	p, err := svc.ListPage(ctx, solvekit.ListOptions{Tag: "batch-1", Limit: 2})
	if err != nil {
		panic(err)
	}
	fmt.Println("page", len(p.Executions), "of", p.Total, "more:", p.NextPageToken != "")
	rm, err := svc.DeleteTag(ctx, "batch-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("removed from", rm.Executions)
	// Output:
	// batch-1 3
	// checked 1
	// page 2 of 3 more: true
	// removed from 3
}
