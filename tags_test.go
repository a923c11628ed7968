package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// flakyJob fails its first attempt with an unexpected error (retried as a
// new attempt) and succeeds on the next.
func flakyJob(opts ...job.Option) *job.Definition {
	return job.Async("flaky", func(ctx context.Context, jc *job.Context) (any, error) {
		if jc.Attempt == 1 {
			return nil, errors.New("first attempt breaks")
		}
		return map[string]int{"attempt": jc.Attempt}, nil
	}, append([]job.Option{job.WithMaxRetries(2)}, opts...)...)
}

// workingService starts a second Service with cfg and defs, working until
// the test ends.
func workingService(t *testing.T, cfg solvekit.Config, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	svc, err := solvekit.New(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, svc.Register(defs...))
	ctx, stop := context.WithCancel(context.Background())
	worked := make(chan struct{})
	go func() { defer close(worked); _ = svc.Work(ctx) }()
	t.Cleanup(func() {
		stop()
		<-worked
		require.NoError(t, svc.Close())
	})
	return svc
}

// TestTagRouting: two workers on one Redis, one with WorkerTags ["gpu"] and
// one without. Every execution requiring "gpu" (by its submit, or by its
// job type's WithRequiredTags) runs on the gpu worker, and so do its
// retried and relaunched attempts; untagged ones run anywhere; one
// requiring a tag no worker has stays queued, visible in the queues view.
func TestTagRouting(t *testing.T) {
	b := setup(t, setupOpts{cfg: solvekit.Config{WorkerID: "plain", RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }},
		defs: []*job.Definition{sumJob(), flakyJob(), job.Async("render", func(ctx context.Context, jc *job.Context) (any, error) {
			return map[string]bool{"ok": true}, nil
		}, job.WithRequiredTags("gpu"))}})
	ctx := context.Background()
	workingService(t, solvekit.Config{RedisURL: b.url, Logger: b.svc2Logger(), WorkerID: "gpu-box",
		WorkerTags: []string{"gpu"}, Concurrency: 4, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }},
		sumJob(), flakyJob(), job.Async("render", func(ctx context.Context, jc *job.Context) (any, error) {
			return map[string]bool{"ok": true}, nil
		}, job.WithRequiredTags("gpu")))

	in := json.RawMessage(`{"values":[1,2]}`)
	var plain, tagged []string
	for i := 0; i < 8; i++ {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in})
		require.NoError(t, err)
		plain = append(plain, e.ID)
		e, err = b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, RequireTags: []string{"gpu"}, Tags: []string{"batch"}})
		require.NoError(t, err)
		require.Equal(t, []string{"gpu"}, e.RequireTags)
		require.Equal(t, "default", e.Queue, "the record keeps its queue; only the task is routed")
		tagged = append(tagged, e.ID)
	}
	byType, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "render", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"gpu"}, byType.RequireTags, "the job type's required tags")
	tagged = append(tagged, byType.ID)
	flaky, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "flaky", Instance: json.RawMessage(`{}`), RequireTags: []string{"gpu"}})
	require.NoError(t, err)

	workers := map[string]int{}
	for _, id := range plain {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		workers[e.Worker]++
	}
	for _, id := range tagged {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		require.Equal(t, "gpu-box", e.Worker, "execution %s requires gpu", id)
	}
	t.Logf("untagged executions per worker: %v", workers)
	e := waitFor(t, b, flaky.ID, 20*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt, "the first attempt failed and was retried")
	require.Equal(t, "gpu-box", e.Worker, "the retried attempt kept its routing")

	// A relaunch is routed as the first attempt was.
	_, err = b.svc.Relaunch(ctx, tagged[0], solvekit.RelaunchRequest{})
	require.NoError(t, err)
	e = waitFor(t, b, tagged[0], 20*time.Second)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, "gpu-box", e.Worker)

	// A tag no worker has: the execution waits in its routed queue.
	stuck, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, RequireTags: []string{"gpu", "fpga"}})
	require.NoError(t, err)
	require.Equal(t, []string{"fpga", "gpu"}, stuck.RequireTags, "sorted")
	var pending int
	require.Eventually(t, func() bool {
		qs, err := b.svc.Queues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == "default~fpga+gpu" {
				pending = q.Pending
			}
		}
		return pending == 1
	}, patience.Scale(10*time.Second), 20*time.Millisecond, "the routed queue shows the waiting task")
	got, err := b.svc.Get(ctx, stuck.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, got.State)
	require.NoError(t, b.svc.Cancel(ctx, stuck.ID))
	require.Eventually(t, func() bool {
		qs, err := b.svc.Queues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == "default~fpga+gpu" {
				return q.Size == 0
			}
		}
		return false
	}, patience.Scale(10*time.Second), 20*time.Millisecond, "cancel removed the routed task")

	// Workers list their routed queues.
	ws, err := b.svc.Workers(ctx)
	require.NoError(t, err)
	var sawGPU bool
	for _, w := range ws {
		_, routed := w.Queues["default~gpu"]
		if w.ID == "gpu-box" || routed {
			sawGPU = sawGPU || routed
		}
	}
	require.True(t, sawGPU, "the gpu worker serves default~gpu: %+v", ws)
}

// TestTagValidation: malformed tags are refused with CodeInvalid and
// nothing is stored; so are worker tags at New.
func TestTagValidation(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob(), job.Sync("now", func(ctx context.Context, jc *job.Context) (any, error) {
		return 1, nil
	})}})
	ctx := context.Background()
	in := json.RawMessage(`{"values":[1]}`)
	many := make([]string, job.MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for _, req := range []solvekit.SubmitRequest{
		{JobType: "sum", Instance: in, Tags: []string{"GPU"}},
		{JobType: "sum", Instance: in, Tags: []string{"a,b"}},
		{JobType: "sum", Instance: in, Tags: []string{""}},
		{JobType: "sum", Instance: in, Tags: many},
		{JobType: "sum", Instance: in, RequireTags: []string{"a~b"}},
		{JobType: "sum", Instance: in, RequireTags: []string{"a", "b", "c", "d", "e", "f", "g"}},
		{JobType: "now", Instance: in, RequireTags: []string{"gpu"}}, // sync: this process lacks gpu
	} {
		_, err := b.svc.Submit(ctx, req)
		require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "%+v: %v", req, err)
	}
	l, err := b.svc.ListPage(ctx, solvekit.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, l.Executions)
	_, err = b.svc.Update(ctx, "nope", solvekit.ExecutionUpdate{Tags: &[]string{"BAD"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = b.svc.AttachTag(ctx, "Bad Tag", solvekit.TagTargets{})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = b.svc.CreateInstance(ctx, &job.Instance{Tags: []string{"x y"}}, []byte(`{}`))
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = solvekit.New(ctx, solvekit.Config{RedisURL: b.url, WorkerTags: []string{"Bad"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = solvekit.New(ctx, solvekit.Config{RedisURL: b.url, WorkerTags: []string{"a", "b", "c", "d", "e", "f", "g"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	require.Error(t, b.svc.Register(job.Async("badtags", func(ctx context.Context, jc *job.Context) (any, error) { return nil, nil }, job.WithTags("UPPER"))))
}

// TestTagsCRUD: tags on executions, instances and job types; the ?tag=
// filters with page tokens; attach, change, delete (the tag leaves every
// record and index) and retention-style deletes removing index entries.
func TestTagsCRUD(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob(),
		job.Async("mip", func(ctx context.Context, jc *job.Context) (any, error) { return nil, nil }, job.WithTags("solver", "gpu"))}})
	ctx := context.Background()
	in := json.RawMessage(`{"values":[1]}`)
	var red []string // newest last
	for i := 0; i < 7; i++ {
		tags := []string{"red"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, Tags: tags, Owner: "ann"})
		require.NoError(t, err)
		red = append(red, e.ID)
		time.Sleep(2 * time.Millisecond) // distinct creation times, for a stable order
	}
	blue, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, Tags: []string{"blue", "blue"}})
	require.NoError(t, err)
	require.Equal(t, []string{"blue"}, blue.Tags, "duplicates dropped")
	inst, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "i", Tags: []string{"red", "data"}}, []byte(`{"values":[2]}`))
	require.NoError(t, err)
	require.Equal(t, []string{"data", "red"}, inst.Tags)

	// ?tag= pages newest first with tokens, through the tag's own index.
	var seen []string
	tok := ""
	for {
		p, err := b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "red", Limit: 3, PageToken: tok})
		require.NoError(t, err)
		require.Equal(t, int64(7), p.Total)
		for _, e := range p.Executions {
			require.Contains(t, e.Tags, "red")
			seen = append(seen, e.ID)
		}
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	want := slices.Clone(red)
	slices.Reverse(want)
	require.Equal(t, want, seen)
	// A tag beside another filter: read from one index, checked on the rest.
	p, err := b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "even", Owner: "ann", State: job.StateQueued, JobType: "sum"})
	require.NoError(t, err)
	require.Len(t, p.Executions, 4)
	p, err = b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "even", Metadata: map[string]string{"k": "v"}})
	require.NoError(t, err)
	require.Empty(t, p.Executions)
	ip, err := b.svc.ListInstancesPage(ctx, solvekit.InstanceFilter{Tag: "red"})
	require.NoError(t, err)
	require.Len(t, ip.Instances, 1)
	require.Equal(t, inst.ID, ip.Instances[0].ID)
	ip, err = b.svc.ListInstancesPage(ctx, solvekit.InstanceFilter{Tag: "blue"})
	require.NoError(t, err)
	require.Empty(t, ip.Instances)

	// GET /tags: every tag with counts, job types' tags included, paged by name.
	var names []string
	var all []*solvekit.TagInfo
	tok = ""
	for {
		tp, err := b.svc.Tags(ctx, solvekit.TagListOptions{Limit: 2, PageToken: tok})
		require.NoError(t, err)
		require.LessOrEqual(t, len(tp.Tags), 2)
		for _, ti := range tp.Tags {
			names = append(names, ti.Name)
			all = append(all, ti)
		}
		if tok = tp.NextPageToken; tok == "" {
			break
		}
	}
	require.Equal(t, []string{"blue", "data", "even", "gpu", "red", "solver"}, names)
	for _, ti := range all {
		switch ti.Name {
		case "red":
			require.Equal(t, int64(7), ti.Executions)
			require.Equal(t, int64(1), ti.Instances)
		case "gpu":
			require.Equal(t, []string{"mip"}, ti.JobTypes)
			require.Zero(t, ti.Executions)
		}
	}

	// GET /tags/{tag}: executions newest first, then instances, paged.
	var items []solvekit.TaggedItem
	tok = ""
	for {
		tp, err := b.svc.TaggedItems(ctx, "red", solvekit.TagListOptions{Limit: 7, PageToken: tok})
		require.NoError(t, err)
		items = append(items, tp.Items...)
		if tok = tp.NextPageToken; tok == "" {
			break
		}
	}
	require.Len(t, items, 8)
	require.Equal(t, solvekit.TaggedItem{Kind: "execution", ID: red[6]}, items[0])
	require.Equal(t, solvekit.TaggedItem{Kind: "instance", ID: inst.ID}, items[7])

	// Attach to several records; change one record's tags.
	ti, err := b.svc.AttachTag(ctx, "blue", solvekit.TagTargets{ExecutionIDs: red[:2], InstanceIDs: []string{inst.ID}})
	require.NoError(t, err)
	require.Equal(t, int64(3), ti.Executions)
	require.Equal(t, int64(1), ti.Instances)
	_, err = b.svc.AttachTag(ctx, "blue", solvekit.TagTargets{ExecutionIDs: []string{"missing"}})
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	e, err := b.svc.Update(ctx, red[0], solvekit.ExecutionUpdate{Tags: &[]string{"green"}})
	require.NoError(t, err)
	require.Equal(t, []string{"green"}, e.Tags)
	p, err = b.svc.ListPage(ctx, solvekit.ListOptions{Tag: "red"})
	require.NoError(t, err)
	require.Equal(t, int64(6), p.Total, "the red entry moved with the tags")

	// DELETE /tags/{tag}: the tag leaves every record and index.
	rm, err := b.svc.DeleteTag(ctx, "red")
	require.NoError(t, err)
	require.Equal(t, solvekit.TagRemoval{Executions: 6, Instances: 1}, *rm)
	_, err = b.svc.Tag(ctx, "red")
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	got, err := b.svc.Get(ctx, red[3])
	require.NoError(t, err)
	require.NotContains(t, got.Tags, "red")
	gi, err := b.svc.GetInstance(ctx, inst.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"blue", "data"}, gi.Tags)
	rm, err = b.svc.DeleteTag(ctx, "gpu")
	require.NoError(t, err)
	require.Equal(t, solvekit.TagRemoval{}, *rm, "job types keep their tags: nothing to remove")
	ti, err = b.svc.Tag(ctx, "gpu")
	require.NoError(t, err)
	require.Equal(t, []string{"mip"}, ti.JobTypes)
	_, err = b.svc.DeleteTag(ctx, "never-used")
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))

	// Deleting records (as retention does) removes their tag entries.
	require.NoError(t, b.svc.Cancel(ctx, blue.ID))
	require.NoError(t, b.svc.Delete(ctx, blue.ID))
	ti, err = b.svc.Tag(ctx, "blue")
	require.NoError(t, err)
	require.Equal(t, int64(1), ti.Executions, "red[1] is left (red[0]'s tags were replaced)")
	inst2, err := b.svc.CreateInstance(ctx, &job.Instance{Tags: []string{"solo"}}, []byte(`{}`))
	require.NoError(t, err)
	require.NoError(t, b.svc.DeleteInstance(ctx, inst2.ID))
	_, err = b.svc.Tag(ctx, "solo")
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	tp, err := b.svc.Tags(ctx, solvekit.TagListOptions{Limit: 100})
	require.NoError(t, err)
	for _, ti := range tp.Tags {
		require.NotEqual(t, "solo", ti.Name, "a tag nothing carries is dropped from the listing")
	}
}

// TestTagRoutingSweepers: the sweepers keep the routing too. A queued
// record requiring "gpu" whose task a crash left out is enqueued to the
// routed queue, and a running attempt whose worker died is requeued there:
// both then run on the gpu worker, whichever process sweeps.
func TestTagRoutingSweepers(t *testing.T) {
	fast := solvekit.Config{QueuedGrace: 200 * time.Millisecond, SweepInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second}
	plainCfg := fast
	plainCfg.WorkerID = "plain"
	b := setup(t, setupOpts{cfg: plainCfg, defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	gpuCfg := fast
	gpuCfg.RedisURL, gpuCfg.Logger, gpuCfg.WorkerID, gpuCfg.WorkerTags = b.url, b.svc2Logger(), "gpu-box", []string{"gpu"}
	workingService(t, gpuCfg, sumJob())
	// Several of each, so that a task put in the plain queue would likely
	// land on the plain worker at least once.
	st := solvekit.StoreOf(b.svc)
	past := time.Now().Add(-time.Second)
	var orphans, lost []string
	for i := 0; i < 6; i++ {
		for _, kind := range []string{"orphan", "lost"} {
			id := fmt.Sprintf("%s-gpu-%d", kind, i)
			e := &job.Execution{ID: id, JobType: "sum", Kind: job.KindAsync, Queue: "default",
				Config: json.RawMessage(`{"scale":1}`), CreatedAt: past, RequireTags: []string{"gpu"}}
			require.NoError(t, st.Create(ctx, e, json.RawMessage(`{"values":[4]}`)))
			if kind == "lost" {
				_, err := st.Start(ctx, id, 1, "dead-worker", time.Now().Add(-time.Minute))
				require.NoError(t, err)
				lost = append(lost, id)
			} else {
				orphans = append(orphans, id)
			}
		}
	}
	for _, id := range orphans {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		require.Equal(t, "gpu-box", e.Worker, id)
	}
	for _, id := range lost {
		e := waitFor(t, b, id, 30*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		require.Equal(t, 2, e.Attempt, "the dead worker's attempt was requeued")
		require.Equal(t, "gpu-box", e.Worker, id)
	}
}
