package redistest

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// printfRecorder is a go-redis logger that keeps what it is asked to print.
type printfRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *printfRecorder) Printf(_ context.Context, format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, v...))
}

// stderrPrintf prints as go-redis's default logger does.
type stderrPrintf struct{}

func (stderrPrintf) Printf(_ context.Context, format string, v ...any) {
	log.Printf("redis: "+format, v...)
}

// TestWaitReadyPrintsNoDialErrors starts a redis-server a second late, as
// a loaded machine does, while waitReady waits for it: go-redis must print
// nothing (its "failed to dial" lines were the noise at the start of the
// suite).
func TestWaitReadyPrintsNoDialErrors(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server binary")
	}
	rec := &printfRecorder{}
	redis.SetLogger(rec)
	defer redis.SetLogger(stderrPrintf{})
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--dir", dir, "--save", "", "--appendonly", "no",
		"--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log"))
	dieWithParent(cmd)
	started := make(chan error, 1)
	timer := time.AfterFunc(time.Second, func() { started <- cmd.Start() })
	defer timer.Stop()
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	version, err := waitReady("unix", sock, startWithin)
	require.NoError(t, <-started)
	require.NoError(t, err)
	require.NotEmpty(t, version)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Empty(t, rec.lines, "go-redis printed while the server was starting")
}
