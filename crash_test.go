package solvekit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

const workerEnv = "SOLVEKIT_TEST_WORKER_URL"

// workerPublicEnv, set in a crash test's environment, makes its worker
// processes use Config.AsynqPublicAPI.
const workerPublicEnv = "SOLVEKIT_TEST_WORKER_PUBLIC"

// slowJob counts to the instance's "steps", one step each 100 ms, publishing
// each count as an incumbent; its solution names the worker that finished.
// On worker-a, the worker the crash test kills, it counts on until then, so
// that the kill lands mid-job however long worker-b takes to start.
func slowJob(worker string) *job.Definition {
	return job.Async("slow", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct {
			Steps int `json:"steps"`
		}
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		for i := 1; i <= in.Steps || worker == "worker-a"; i++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			_ = jc.Incumbent(map[string]any{"count": i, "worker": worker}, float64(i))
		}
		return map[string]any{"count": in.Steps, "worker": worker}, nil
	})
}

// workerProcess is the body of a worker process started by a crash test:
// Work on the given Redis with default heartbeat settings until killed.
func workerProcess(url string) int {
	id := os.Getenv("SOLVEKIT_TEST_WORKER_ID")
	svc, err := solvekit.New(context.Background(), solvekit.Config{RedisURL: url, WorkerID: id, Concurrency: 4,
		AsynqPublicAPI: os.Getenv(workerPublicEnv) != "",
		Logger:         slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := svc.Register(slowJob(id)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("worker ready")
	_ = svc.Work(ctx)
	return 0
}

type workerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// slowOnWorkerA starts worker process "worker-a", submits a slow job of
// 30 steps and waits until worker-a runs it.
func slowOnWorkerA(t *testing.T, b *bundle) (*workerProc, *job.Execution) {
	t.Helper()
	a := startWorker(t, b.url, "worker-a")
	e, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "slow", Instance: json.RawMessage(`{"steps":30}`)})
	require.NoError(t, err)
	e = waitState(t, b, e.ID, job.StateRunning)
	require.Equal(t, "worker-a", e.Worker)
	return a, e
}

func startWorker(t *testing.T, url, id string) *workerProc {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+url, "SOLVEKIT_TEST_WORKER_ID="+id)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	w := &workerProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		var once sync.Once
		for sc.Scan() {
			if strings.Contains(sc.Text(), "worker ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
	})
	select {
	case <-ready:
	case <-time.After(patience.Scale(20 * time.Second)):
		t.Fatal("worker process did not start")
	}
	return w
}

func (w *workerProc) kill9(t *testing.T) {
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	<-w.done
}

// TestKill9WorkerRequeues kills a worker process mid-job with SIGKILL and
// checks that another worker process re-runs the execution to completion,
// with exactly one terminal state and one solution, after the dead
// attempt was marked lost. How long the re-run took is logged, not
// asserted: on an idle machine it is HeartbeatTimeout (10 s) plus a
// second or two; a loaded one only makes it later.
func TestKill9WorkerRequeues(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes ~15 s")
	}
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{slowJob("submitter")}})
	ctx := context.Background()
	a, e := slowOnWorkerA(t, b)
	require.Eventually(t, func() bool { // mid-job: an incumbent is in
		got, err := b.svc.Get(ctx, e.ID)
		require.NoError(t, err)
		return got.Objective != nil
	}, patience.Scale(10*time.Second), 20*time.Millisecond, "worker-a published no incumbent")
	startWorker(t, b.url, "worker-b")
	a.kill9(t)
	killed := time.Now()

	var rerun time.Duration
	require.Eventually(t, func() bool {
		got, err := b.svc.Get(ctx, e.ID)
		require.NoError(t, err)
		if got.State == job.StateRunning && got.Attempt == 2 {
			rerun = time.Since(killed)
			return true
		}
		return false
	}, patience.Scale(20*time.Second), 20*time.Millisecond, "execution was not re-run after the kill")
	t.Logf("re-run started %s after kill -9", rerun.Round(time.Millisecond))
	require.Equal(t, "worker-b", waitState(t, b, e.ID, job.StateRunning).Worker)

	done := waitFor(t, b, e.ID, 20*time.Second)
	require.Equal(t, job.StateSucceeded, done.State)
	require.Equal(t, 2, done.Attempt)
	require.JSONEq(t, `{"count":30,"worker":"worker-b"}`, string(b.solution(t, e.ID)))

	// Exactly one terminal status event in the execution's history.
	evs, err := solvekit.StoreOf(b.svc).Events(ctx, e.ID, "", 1000)
	require.NoError(t, err)
	var states []string
	for _, ev := range evs {
		if ev.Type != "status" {
			continue
		}
		var d struct{ State job.State }
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		states = append(states, string(d.State))
	}
	require.Equal(t, []string{"queued", "running", "lost", "queued", "running", "succeeded"}, states)
	// One solution key, no incumbent left over.
	_, err = solvekit.StoreOf(b.svc).Incumbent(ctx, e.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
	// Nothing is left in the running index.
	counts, err := solvekit.StoreOf(b.svc).CountByState(ctx)
	require.NoError(t, err)
	require.Zero(t, counts[job.StateRunning])
	_ = store.Lost
}
