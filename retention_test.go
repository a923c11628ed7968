package solvekit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// retentionDefs are the job types of the retention tests: sum succeeds
// (with progress events and a log record), fail fails, block runs until
// released or stopped.
func retentionDefs(release <-chan struct{}) []*job.Definition {
	return []*job.Definition{
		sumJob(),
		job.Async("fail", func(ctx context.Context, jc *job.Context) (any, error) {
			jc.Logger.Info("about to fail")
			return nil, job.Fail("bad input", nil)
		}),
		job.Async("block", func(ctx context.Context, jc *job.Context) (any, error) {
			jc.Logger.Info("blocking")
			select {
			case <-release:
				return map[string]int{"ok": 1}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}),
	}
}

// run submits an execution and waits for its end.
func run(t *testing.T, b *bundle, req solvekit.SubmitRequest) *job.Execution {
	t.Helper()
	if req.Instance == nil && req.InstanceID == "" {
		req.Instance = json.RawMessage(`{"values":[1,2]}`)
	}
	e, err := b.svc.Submit(context.Background(), req)
	require.NoError(t, err)
	return waitFor(t, b, e.ID, 10*time.Second)
}

// footprint is every key that names id and every sorted set that holds it
// as a member: what an execution (or instance) leaves in Redis, whatever
// the layout of the indexes.
func footprint(t *testing.T, rdb *redis.Client, id string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		if strings.Contains(k, id) {
			out = append(out, k)
			continue
		}
		if rdb.Type(ctx, k).Val() != "zset" {
			continue
		}
		if _, err := rdb.ZScore(ctx, k, id).Result(); err == nil {
			out = append(out, "member of "+k)
		}
	}
	return out
}

// memBlobs is a BlobStore in memory that counts its calls.
type memBlobs struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

func newMemBlobs() *memBlobs { return &memBlobs{m: map[string][]byte{}} }

func (b *memBlobs) Put(_ context.Context, key string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[key] = bytes.Clone(data)
	b.puts++
	return nil
}

func (b *memBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[key]
	if !ok {
		return nil, job.Errorf(job.CodeNotFound, "no blob %q", key)
	}
	return d, nil
}

func (b *memBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
	return nil
}

func (b *memBlobs) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.m {
		out = append(out, k)
	}
	return out
}

func TestRetentionRemovesExpiredAndSparesLiveOnes(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	b := setup(t, setupOpts{defs: retentionDefs(release),
		cfg: solvekit.Config{FileBlobThreshold: 1024, RetentionInterval: time.Hour}})
	ctx := context.Background()
	sweep := solvekit.RetentionSweeper(b.svc)

	newInstance := func(name string) string {
		in, err := b.svc.CreateInstance(ctx, &job.Instance{Name: name, JobType: "sum"}, []byte(`{"values":[4,5]}`))
		require.NoError(t, err)
		return in.ID
	}
	instDone, instFree, instRunning, instQueued := newInstance("done"), newInstance("free"), newInstance("running"), newInstance("queued")

	ok := run(t, b, solvekit.SubmitRequest{JobType: "sum", InstanceID: instDone})
	require.Equal(t, job.StateSucceeded, ok.State)
	// Both kinds of files: one stored with the record, one in the blob store.
	_, err := b.svc.AddFiles(ctx, ok.ID, []solvekit.FileUpload{
		{Name: "small.txt", Data: []byte("small")},
		{Name: "big.bin", Data: bytes.Repeat([]byte("x"), 4096)},
	}, 0)
	require.NoError(t, err)
	blobKeys, err := b.rdb.Keys(ctx, "*:blob:*").Result()
	require.NoError(t, err)
	require.Len(t, blobKeys, 1, "the big file went to the (default, Redis) blob store")
	// Reading the event stream creates it, so that it is there to remove.
	_, err = b.svc.Logs(ctx, ok.ID, "", 10)
	require.NoError(t, err)
	for ev, err := range b.svc.Follow(ctx, ok.ID, solvekit.FollowOptions{}) {
		require.NoError(t, err)
		_ = ev
		break
	}
	failed := run(t, b, solvekit.SubmitRequest{JobType: "fail"})
	require.Equal(t, job.StateFailed, failed.State)

	running, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "block", Instance: json.RawMessage(`{}`), InstanceID: ""})
	require.NoError(t, err)
	// The running one names an instance: it must stay.
	runningOnInst, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "block", InstanceID: instRunning})
	require.NoError(t, err)
	for _, id := range []string{running.ID, runningOnInst.ID} {
		waitState(t, b, id, job.StateRunning)
		// Its log record ("blocking") is written after the start: wait for
		// it, so that the footprint below is complete.
		require.Eventually(t, func() bool {
			n, err := b.svc.LogCount(ctx, id)
			return err == nil && n > 0
		}, patience.Scale(10*time.Second), 5*time.Millisecond)
	}
	// A queued one: its job type's queue is served by no worker.
	parkedSvc, err := solvekit.New(ctx, solvekit.Config{Redis: b.rdb, Logger: b.svc2Logger(), DisableRetention: true})
	require.NoError(t, err)
	defer parkedSvc.Close()
	require.NoError(t, parkedSvc.Register(job.Async("parked", func(ctx context.Context, jc *job.Context) (any, error) {
		return nil, nil
	}, job.WithQueue("parked"))))
	queued, err := parkedSvc.Submit(ctx, solvekit.SubmitRequest{JobType: "parked", InstanceID: instQueued})
	require.NoError(t, err)

	liveBefore := map[string][]string{}
	for _, id := range []string{running.ID, runningOnInst.ID, queued.ID, instRunning, instQueued} {
		liveBefore[id] = footprint(t, b.rdb, id)
		require.NotEmpty(t, liveBefore[id])
	}
	require.NotEmpty(t, footprint(t, b.rdb, ok.ID))

	// A day later nothing has expired.
	n, ni, _, err := sweep(time.Now().Add(24 * time.Hour))
	require.NoError(t, err)
	require.Zero(t, n)
	require.Zero(t, ni)

	// A year later: every finished execution and unused instance goes.
	n, ni, more, err := sweep(time.Now().Add(365 * 24 * time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 2, ni, "the instances no stored execution names")
	require.False(t, more)
	for _, id := range []string{ok.ID, failed.ID, instDone, instFree} {
		require.Empty(t, footprint(t, b.rdb, id), "%s left keys or index entries", id)
	}
	blobKeys, err = b.rdb.Keys(ctx, "*:blob:*").Result()
	require.NoError(t, err)
	require.Empty(t, blobKeys, "the file's blob went with its execution")
	_, err = b.svc.Get(ctx, ok.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
	_, err = b.svc.GetInstance(ctx, instFree)
	require.ErrorIs(t, err, job.ErrNotFound)

	// Queued and running executions, and the instances they name, are
	// untouched: the same keys and index entries as before.
	for id, before := range liveBefore {
		require.ElementsMatch(t, before, footprint(t, b.rdb, id), "%s was touched", id)
	}
	for _, id := range []string{running.ID, runningOnInst.ID} {
		e, err := b.svc.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, job.StateRunning, e.State)
	}
	e, err := b.svc.Get(ctx, queued.ID)
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, e.State)
}

func TestRetentionPeriodsPerState(t *testing.T) {
	release := make(chan struct{})
	b := setup(t, setupOpts{defs: retentionDefs(release), cfg: solvekit.Config{RetentionInterval: time.Hour}})
	ctx := context.Background()
	sweep := solvekit.RetentionSweeper(b.svc)
	ok := run(t, b, solvekit.SubmitRequest{JobType: "sum"})
	failed := run(t, b, solvekit.SubmitRequest{JobType: "fail"})
	stopping, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "block", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	waitState(t, b, stopping.ID, job.StateRunning)
	require.NoError(t, b.svc.Cancel(ctx, stopping.ID))
	stopped := waitFor(t, b, stopping.ID, 10*time.Second)
	require.Equal(t, job.StateStopped, stopped.State)
	close(release)

	exists := func(id string) bool {
		_, err := b.svc.Get(ctx, id)
		if errors.Is(err, job.ErrNotFound) {
			return false
		}
		require.NoError(t, err)
		return true
	}
	day := 24 * time.Hour
	// Past 7 days the succeeded and stopped ones go; the failed one stays
	// for 30 days.
	n, _, _, err := sweep(time.Now().Add(6 * day))
	require.NoError(t, err)
	require.Zero(t, n)
	n, _, _, err = sweep(time.Now().Add(8 * day))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.False(t, exists(ok.ID))
	require.False(t, exists(stopped.ID))
	require.True(t, exists(failed.ID))
	n, _, _, err = sweep(time.Now().Add(31 * day))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, exists(failed.ID))
}

func TestRetentionOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  solvekit.Config
	}{
		{"DisableRetention", solvekit.Config{DisableRetention: true}},
		{"negative periods", solvekit.Config{SucceededRetention: -1, FailedRetention: -1, StoppedRetention: -1, InstanceRetention: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			close(release)
			tc.cfg.RetentionInterval = time.Hour
			b := setup(t, setupOpts{defs: retentionDefs(release), cfg: tc.cfg})
			ctx := context.Background()
			in, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "kept"}, []byte(`{"values":[1]}`))
			require.NoError(t, err)
			run(t, b, solvekit.SubmitRequest{JobType: "sum"})
			run(t, b, solvekit.SubmitRequest{JobType: "fail"})
			before, err := b.rdb.Keys(ctx, "*").Result()
			require.NoError(t, err)
			n, ni, _, err := solvekit.RetentionSweeper(b.svc)(time.Now().Add(10 * 365 * 24 * time.Hour))
			require.NoError(t, err)
			require.Zero(t, n)
			require.Zero(t, ni)
			after, err := b.rdb.Keys(ctx, "*").Result()
			require.NoError(t, err)
			require.ElementsMatch(t, before, after, "nothing was removed")
			_, err = b.svc.GetInstance(ctx, in.ID)
			require.NoError(t, err)
		})
	}
}

func TestRetentionBatchesAreBounded(t *testing.T) {
	release := make(chan struct{})
	close(release)
	b := setup(t, setupOpts{defs: retentionDefs(release),
		cfg: solvekit.Config{RetentionBatch: 3, RetentionInterval: time.Hour}})
	ctx := context.Background()
	for range 7 {
		run(t, b, solvekit.SubmitRequest{JobType: "sum"})
	}
	for range 4 {
		_, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "free"}, []byte(`{"values":[1]}`))
		require.NoError(t, err)
	}
	sweep := solvekit.RetentionSweeper(b.svc)
	later := time.Now().Add(365 * 24 * time.Hour)
	var got [][3]any
	for range 4 {
		n, ni, more, err := sweep(later)
		require.NoError(t, err)
		got = append(got, [3]any{n, ni, more})
	}
	require.Equal(t, [][3]any{{3, 3, true}, {3, 1, true}, {1, 0, false}, {0, 0, false}}, got,
		"at most RetentionBatch executions and instances per sweep")
	counts, err := b.svc.Counts(ctx)
	require.NoError(t, err)
	require.Zero(t, counts[job.StateSucceeded])
}

func TestRetentionPagesPastInstancesInUse(t *testing.T) {
	release := make(chan struct{})
	close(release)
	// Succeeded executions are kept forever; the instances they name
	// must stay however old, and the sweep must page past them to the
	// unused one behind.
	b := setup(t, setupOpts{defs: retentionDefs(release),
		cfg: solvekit.Config{RetentionBatch: 2, SucceededRetention: -1, RetentionInterval: time.Hour}})
	ctx := context.Background()
	var used []string
	for range 3 {
		in, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "used", JobType: "sum"}, []byte(`{"values":[1]}`))
		require.NoError(t, err)
		used = append(used, in.ID)
		run(t, b, solvekit.SubmitRequest{JobType: "sum", InstanceID: in.ID})
	}
	unused, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "unused"}, []byte(`{"values":[1]}`))
	require.NoError(t, err)
	sweep := solvekit.RetentionSweeper(b.svc)
	later := time.Now().Add(365 * 24 * time.Hour)
	total := 0
	for range 3 {
		_, ni, _, err := sweep(later)
		require.NoError(t, err)
		total += ni
	}
	require.Equal(t, 1, total)
	_, err = b.svc.GetInstance(ctx, unused.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
	for _, id := range used {
		_, err := b.svc.GetInstance(ctx, id)
		require.NoError(t, err, "an instance a kept execution names stays")
	}
}

func TestRetentionRunsByDefault(t *testing.T) {
	release := make(chan struct{})
	close(release)
	// Only the periods are shortened: the loop, its lease and its
	// schedule are the ones every Service runs.
	b := setup(t, setupOpts{defs: retentionDefs(release), cfg: solvekit.Config{
		SucceededRetention: time.Millisecond, RetentionInterval: 10 * time.Millisecond}})
	ctx := context.Background()
	e := run(t, b, solvekit.SubmitRequest{JobType: "sum"})
	require.Eventually(t, func() bool {
		_, err := b.svc.Get(ctx, e.ID)
		return errors.Is(err, job.ErrNotFound)
	}, patience.Scale(10*time.Second), 10*time.Millisecond, "the retention loop removed the expired execution")
}

func TestLogStreamCapped(t *testing.T) {
	const lines = 2000
	b := setup(t, setupOpts{cfg: solvekit.Config{LogMaxLen: 100}, defs: []*job.Definition{
		job.Async("chatty", func(ctx context.Context, jc *job.Context) (any, error) {
			for i := range lines {
				jc.Logger.Info("line", "i", i)
			}
			return nil, nil
		}),
	}})
	e := run(t, b, solvekit.SubmitRequest{JobType: "chatty", Instance: json.RawMessage(`{}`)})
	require.Equal(t, job.StateSucceeded, e.State)
	n, err := b.svc.LogCount(context.Background(), e.ID)
	require.NoError(t, err)
	// Redis trims whole stream nodes (100 entries by default), so up to
	// one node more than the cap stays.
	require.GreaterOrEqual(t, n, int64(100))
	require.LessOrEqual(t, n, int64(100+100), "the log stream is capped near LogMaxLen, not %d records", lines)
}

func TestLargeFilesGoToTheBlobStore(t *testing.T) {
	blobs := newMemBlobs()
	release := make(chan struct{})
	close(release)
	b := setup(t, setupOpts{defs: retentionDefs(release), cfg: solvekit.Config{Blobs: blobs, FileBlobThreshold: 100}})
	ctx := context.Background()
	e := run(t, b, solvekit.SubmitRequest{JobType: "sum"})
	big := bytes.Repeat([]byte("b"), 1000)
	_, err := b.svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{
		{Name: "small.txt", Data: []byte("s")},
		{Name: "big.bin", Data: big, ContentType: "application/x-big"},
	}, 0)
	require.NoError(t, err)
	require.Len(t, blobs.keys(), 1, "only the file above the threshold")
	f, data, err := b.svc.File(ctx, e.ID, "big.bin")
	require.NoError(t, err)
	require.Equal(t, big, data)
	require.Equal(t, int64(1000), f.Size)
	require.Equal(t, "application/x-big", f.ContentType)
	_, data, err = b.svc.File(ctx, e.ID, "small.txt")
	require.NoError(t, err)
	require.Equal(t, "s", string(data))
	fs, err := b.svc.Files(ctx, e.ID)
	require.NoError(t, err)
	require.Len(t, fs, 2)

	// Replacing the big file deletes its old blob; a small replacement
	// goes back into the record.
	old := blobs.keys()
	_, err = b.svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{{Name: "big.bin", Data: bytes.Repeat([]byte("c"), 500)}}, 0)
	require.NoError(t, err)
	require.Len(t, blobs.keys(), 1)
	require.NotEqual(t, old, blobs.keys())
	_, err = b.svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{{Name: "big.bin", Data: []byte("tiny")}}, 0)
	require.NoError(t, err)
	require.Empty(t, blobs.keys())
	_, data, err = b.svc.File(ctx, e.ID, "big.bin")
	require.NoError(t, err)
	require.Equal(t, "tiny", string(data))

	// A refused call leaves no blob behind.
	_, err = b.svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{{Name: "huge.bin", Data: big}}, 500)
	require.ErrorIs(t, err, &job.Error{Code: job.CodeTooLarge})
	require.Empty(t, blobs.keys())
	puts := blobs.puts

	// Deleting the execution deletes its blobs.
	_, err = b.svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{{Name: "big.bin", Data: big}}, 0)
	require.NoError(t, err)
	require.Equal(t, puts+1, blobs.puts)
	require.Len(t, blobs.keys(), 1)
	require.NoError(t, b.svc.Delete(ctx, e.ID))
	require.Empty(t, blobs.keys())
}

// BenchmarkRetentionSweep times one retention sweep of RetentionBatch (500)
// expired executions (sync jobs, each with a log record), reported per
// execution removed.
func BenchmarkRetentionSweep(b *testing.B) {
	const batch = 500
	bb, _ := setupBench(b, setupOpts{noWork: true, cfg: solvekit.Config{RetentionBatch: batch, RetentionInterval: time.Hour},
		defs: []*job.Definition{job.Sync("hello", func(ctx context.Context, jc *job.Context) (any, error) {
			jc.Logger.Info("hello")
			return "hello", nil
		})}})
	ctx := context.Background()
	sweep := solvekit.RetentionSweeper(bb.svc)
	removed := 0
	for b.Loop() {
		b.StopTimer()
		for range batch {
			if _, err := bb.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "hello", Instance: json.RawMessage(`{}`)}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, _, _, err := sweep(time.Now().Add(365 * 24 * time.Hour))
		if err != nil || n != batch {
			b.Fatalf("removed %d of %d: %v", n, batch, err)
		}
		removed += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(removed), "ns/execution")
}

func TestEventStreamCapped(t *testing.T) {
	const incumbents = 1000
	b := setup(t, setupOpts{cfg: solvekit.Config{EventsMaxLen: 50}, defs: []*job.Definition{
		job.Async("improving", func(ctx context.Context, jc *job.Context) (any, error) {
			for i := range incumbents {
				if err := jc.Incumbent(map[string]int{"i": i}, float64(i)); err != nil {
					return nil, err
				}
			}
			return map[string]int{"i": incumbents}, nil
		}),
	}})
	e := run(t, b, solvekit.SubmitRequest{JobType: "improving", Instance: json.RawMessage(`{}`)})
	require.Equal(t, job.StateSucceeded, e.State)
	ctx, cancel := context.WithTimeout(context.Background(), patience.Scale(10*time.Second))
	defer cancel()
	n, last := 0, ""
	for ev, err := range b.svc.Follow(ctx, e.ID, solvekit.FollowOptions{}) {
		require.NoError(t, err)
		n++
		last = ev.Type
	}
	require.Equal(t, "status", last, "the stream was read to its final status")
	// As with logs, up to one stream node (100 entries) more than the cap.
	require.LessOrEqual(t, n, 50+100, "the event stream is capped near EventsMaxLen, not %d events", incumbents)
	require.GreaterOrEqual(t, n, 50)
}

// TestDeleteFinishedBefore: executions that finished before the cut are
// removed with everything they left in Redis, later ones and running ones
// stay; a second call removes nothing, and a cancelled context stops it.
func TestDeleteFinishedBefore(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	b := setup(t, setupOpts{cfg: solvekit.Config{DisableRetention: true}, defs: retentionDefs(release)})
	ctx := context.Background()
	old := []*job.Execution{run(t, b, solvekit.SubmitRequest{JobType: "sum"}), run(t, b, solvekit.SubmitRequest{JobType: "fail"})}
	require.Equal(t, job.StateFailed, old[1].State)
	time.Sleep(5 * time.Millisecond) // finished_at has millisecond resolution
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	recent := run(t, b, solvekit.SubmitRequest{JobType: "sum"})
	blocked, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "block", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	n, err := b.svc.DeleteFinishedBefore(cancelled, cut)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, n)

	n, err = b.svc.DeleteFinishedBefore(ctx, cut)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, e := range old {
		_, err := b.svc.Get(ctx, e.ID)
		require.ErrorIs(t, err, job.ErrNotFound)
		require.Empty(t, footprint(t, b.rdb, e.ID), "execution %s left keys behind", e.ID)
	}
	for _, id := range []string{recent.ID, blocked.ID} {
		_, err := b.svc.Get(ctx, id)
		require.NoError(t, err)
	}
	n, err = b.svc.DeleteFinishedBefore(ctx, cut)
	require.NoError(t, err)
	require.Zero(t, n)
}
