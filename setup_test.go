package solvekit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(workerEnv); url != "" {
		os.Exit(workerProcess(url)) // a worker started by a crash test
	}
	os.Exit(redistest.Main(m))
}

// bundle is what setup returns: a service on a private database, its
// Redis client and the database's URL (for worker processes).
type bundle struct {
	svc *solvekit.Service
	rdb *redis.Client
	url string
	db  int
}

type setupOpts struct {
	cfg    solvekit.Config
	noWork bool
	defs   []*job.Definition
	// hook, when set, is added to the service's Redis client.
	hook redis.Hook
}

// setup starts a Service (and, unless noWork, a worker) on a fresh
// database of the package's private Redis.
func setup(t testing.TB, o setupOpts) *bundle {
	t.Helper()
	srv := redistest.Current(t)
	db := srv.DB(t)
	rdb := redis.NewClient(srv.Options(db))
	t.Cleanup(func() { rdb.Close() })
	if o.hook != nil {
		rdb.AddHook(o.hook)
	}
	cfg := o.cfg
	cfg.Redis = rdb
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	svc := startService(t, cfg, o.defs, !o.noWork)
	return &bundle{svc: svc, rdb: rdb, url: srv.URL(db), db: db}
}

// startService starts a Service with cfg and defs (and a worker when work
// is set), which stop when t ends.
func startService(t testing.TB, cfg solvekit.Config, defs []*job.Definition, work bool) *solvekit.Service {
	t.Helper()
	svc, err := solvekit.New(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, svc.Register(defs...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if work {
		go func() { defer close(done); _ = svc.Work(ctx) }()
	} else {
		close(done)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(patience.Scale(30 * time.Second)):
			t.Error("worker did not stop")
		}
		require.NoError(t, svc.Close())
	})
	return svc
}

// secondService starts another Service, with Work, on b's database: a
// second process.
func secondService(t *testing.T, b *bundle, defs ...*job.Definition) *solvekit.Service {
	t.Helper()
	rdb := redis.NewClient(redistest.Current(t).Options(b.db))
	t.Cleanup(func() { rdb.Close() })
	return startService(t, solvekit.Config{Redis: rdb, Logger: b.svc2Logger(), Concurrency: 4}, defs, true)
}

// svc2Logger is the logger for extra services in a test: discarded.
func (b *bundle) svc2Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// solution reads execution id's solution; the test fails if it cannot.
func (b *bundle) solution(t *testing.T, id string) json.RawMessage {
	t.Helper()
	sol, err := b.svc.Solution(context.Background(), id)
	require.NoError(t, err)
	return sol
}

// waitFor waits for execution id to end; within is what that takes on an
// idle machine, stretched by patience.Scale.
func waitFor(t *testing.T, b *bundle, id string, within time.Duration) *job.Execution {
	t.Helper()
	within = patience.Scale(within)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	e, err := b.svc.Wait(ctx, id)
	require.NoError(t, err, "execution %s did not finish within %s (last: %+v)", id, within, e)
	return e
}

// waitUntil waits until execution id, read from svc, satisfies ok, and
// returns it; within is what that takes on an idle machine, stretched by
// patience.Scale.
func waitUntil(t *testing.T, svc *solvekit.Service, id string, within time.Duration, ok func(*job.Execution) bool,
	msgAndArgs ...any) *job.Execution {
	t.Helper()
	var e *job.Execution
	require.Eventually(t, func() bool {
		var err error
		e, err = svc.Get(context.Background(), id)
		require.NoError(t, err)
		return ok(e)
	}, patience.Scale(within), 10*time.Millisecond, msgAndArgs...)
	return e
}
