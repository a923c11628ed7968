package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// Retention is on by default (succeeded and stopped executions are kept 7
// days, failed ones 30, unused instances 30). Here succeeded executions
// are kept two seconds so that the example sees one go; failed ones are
// kept 90 days, stored instances forever, and each execution's log at
// most 10,000 records.
func ExampleConfig_retention() {
	ctx := context.Background()
	svc, e := serviceWithOneRun(ctx, solvekit.Config{
		SucceededRetention: 2 * time.Second,
		FailedRetention:    90 * 24 * time.Hour,
		InstanceRetention:  -1, // negative: keep forever
		RetentionInterval:  10 * time.Millisecond,
		LogMaxLen:          10_000,
		// DisableRetention: true would keep everything.
	})
	defer svc.Close()
	fmt.Println(e.State)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := svc.Get(ctx, e.ID); errors.Is(err, job.ErrNotFound) {
			fmt.Println("removed by the retention sweep")
			break
		}
	}
	// Output:
	// succeeded
	// removed by the retention sweep
}

// serviceWithOneRun starts a Service with cfg (and a quiet logger) and
// returns it with one finished execution of a sync job type, "report".
func serviceWithOneRun(ctx context.Context, cfg solvekit.Config) (*solvekit.Service, *job.Execution) {
	cfg.Logger = quiet()
	svc, err := solvekit.New(ctx, cfg)
	if err != nil {
		panic(err)
	}
	_ = svc.Register(job.Sync("report", func(ctx context.Context, jc *job.Context) (any, error) {
		return "done", nil
	}))
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "report", Instance: json.RawMessage(`{}`)})
	if err != nil {
		panic(err)
	}
	return svc, e
}

// dirBlobs is a BlobStore that keeps each blob in a file of one directory,
// the key escaped into a single file name.
type dirBlobs struct{ dir string }

func (d dirBlobs) path(key string) string { return filepath.Join(d.dir, url.PathEscape(key)) }

func (d dirBlobs) Put(_ context.Context, key string, data []byte) error {
	return os.WriteFile(d.path(key), data, 0o600)
}

func (d dirBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, job.Errorf(job.CodeNotFound, "blob %q not found", key)
	}
	return b, err
}

func (d dirBlobs) Delete(_ context.Context, key string) error {
	err := os.Remove(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Files above FileBlobThreshold go to Config.Blobs, here a directory; the
// execution keeps their records, and deleting it deletes the blobs.
func ExampleBlobStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "blobs")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	svc, e := serviceWithOneRun(ctx, solvekit.Config{Blobs: dirBlobs{dir}, FileBlobThreshold: 64 << 10})
	defer svc.Close()
	_, err = svc.AddFiles(ctx, e.ID, []solvekit.FileUpload{
		{Name: "summary.txt", Data: []byte("all good")}, // stays with the execution
		{Name: "trace.bin", Data: make([]byte, 1<<20)},  // goes to the directory
	}, 0)
	if err != nil {
		panic(err)
	}
	entries, _ := os.ReadDir(dir)
	fmt.Println("blobs:", len(entries))
	f, data, _ := svc.File(ctx, e.ID, "trace.bin")
	fmt.Println(f.Name, f.Size, len(data))
	_ = svc.Delete(ctx, e.ID)
	entries, _ = os.ReadDir(dir)
	fmt.Println("blobs after delete:", len(entries))
	// Output:
	// blobs: 1
	// trace.bin 1048576 1048576
	// blobs after delete: 0
}
