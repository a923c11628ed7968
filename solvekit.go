package solvekit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/servicecompare"
	"github.com/solvekit/solvekit/internal/serviceredis"
	"github.com/solvekit/solvekit/internal/servicewait"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// Version is the solvekit release this code is.
const Version = "0.1.0"

// Service wires the registry, the store and the queue: it submits, reads,
// waits for, cancels and relaunches executions, and runs workers. Create it
// with New and release it with Close. It is safe for concurrent use.
type Service struct {
	cfg      Config
	rdb      redis.UniversalClient
	ownRedis bool
	mini     *embeddedRedis
	reg      *registry.Registry
	store    *store.Store
	queue    *queue.Client
	workerID string
	// fused: Submit writes the record and its asynq task in one script
	// (every Redis but Cluster, where the two live in different slots).
	fused bool

	rt *tracker
	// hooks holds the middleware chains and the subscribers (Subscribe).
	hooks   hooks
	signals subscribers[Signal] // SubscribeSignals
	// pausedTypes holds the paused job types' names (see PauseJobType).
	pausedTypes atomic.Pointer[map[string]bool]
	// expWake wakes this process's experiment drivers (nudgeExperiments).
	expWake chan struct{}
	// afterStart, when set (tests), runs between a worker's Start of an
	// attempt and the attempt's registration.
	afterStart func(id string)
	// afterCreate, when set (tests), runs in a fused Submit between the
	// create script's reply and the submit's publication.
	afterCreate func(id string)
	// waitBlocked, when set (tests), runs each time Wait has read a record
	// that is not terminal and is about to block.
	waitBlocked func(id string)

	closeOnce sync.Once
	closing   context.Context // done when Close starts
	stop      context.CancelFunc
	bg        sync.WaitGroup // background loops
	workers   sync.WaitGroup // running Work calls
}

// New connects to Redis (or starts the embedded one) and returns a Service.
// ctx bounds the connecting only (a ping and a read of the paused job
// types); the Service lives until Close.
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg.setDefaults()
	wt, err := checkWorkerTags(cfg.WorkerTags)
	if err != nil {
		return nil, err
	}
	cfg.WorkerTags = wt
	s := &Service{cfg: cfg, reg: cfg.Registry, expWake: make(chan struct{}, 1)}
	switch {
	case cfg.Redis != nil:
		s.rdb = cfg.Redis
	case cfg.RedisURL != "":
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("solvekit: RedisURL: %w", err)
		}
		s.rdb, s.ownRedis = redis.NewClient(opt), true
	case cfg.RedisOptions != nil:
		s.rdb, s.ownRedis = redis.NewUniversalClient(cfg.RedisOptions), true
	default:
		// In-process only: it listens on no port or socket (embedded.go).
		s.mini, s.rdb = startEmbedded()
		s.ownRedis = true
		cfg.Logger.Warn("solvekit: no Redis configured; using an embedded in-memory Redis, reachable from this process only: data lives in memory only and is lost when the process exits")
	}
	if s.ownRedis || cfg.ObserveRedis {
		s.rdb.AddHook(redisSignals{s})
	}
	if err := checkDurability(cfg.Durability, s.rdb, s.mini != nil); err != nil {
		s.closeRedis()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.closeRedis()
		return nil, fmt.Errorf("solvekit: redis ping: %w", err)
	}
	s.workerID = cfg.WorkerID
	if s.workerID == "" {
		host, _ := os.Hostname()
		s.workerID = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), randHex(3))
	}
	s.store = store.New(s.rdb, store.Options{Prefix: cfg.Prefix, LogMaxLen: cfg.LogMaxLen, EventsMaxLen: cfg.EventsMaxLen,
		Replicas: cfg.Durability.Replicas, ReplicaTimeout: cfg.Durability.Timeout})
	if s.cfg.Blobs == nil {
		s.cfg.Blobs = redisBlobs{rdb: s.rdb, prefix: s.store.Prefix() + ":blob:"}
	}
	path := s.chooseTaskPath()
	s.fused = path.Fused
	s.queue = queue.NewClient(s.rdb, path.Layout)
	if err := s.refreshPaused(ctx); err != nil {
		s.closeRedis()
		return nil, fmt.Errorf("solvekit: %w", err)
	}
	bgctx, stop := context.WithCancel(context.Background())
	s.closing, s.stop = bgctx, stop
	s.rt = newTracker(bgctx, s)
	s.bg.Add(5)
	go func() { defer s.bg.Done(); s.rt.listen() }()
	go func() { defer s.bg.Done(); s.rt.subLoop() }()
	go func() { defer s.bg.Done(); s.rt.heartbeatLoop(bgctx) }()
	go func() { defer s.bg.Done(); s.retentionLoop(bgctx) }()
	go func() { defer s.bg.Done(); s.callbackLoop(bgctx) }()
	return s, nil
}

// chooseTaskPath decides how asynq's tasks are written (see
// Config.AsynqPublicAPI and queue.ChoosePath) and logs the choice once.
func (s *Service) chooseTaskPath() queue.Path {
	v := queue.LinkedVersion()
	_, cluster := s.rdb.(*redis.ClusterClient)
	p := queue.ChoosePath(v, cluster, s.cfg.AsynqPublicAPI)
	if p.Fused {
		s.cfg.Logger.Info("solvekit: writing asynq tasks inside solvekit's scripts", "path", p.Name(), "asynq", v)
	} else {
		s.cfg.Logger.Info("solvekit: writing asynq tasks through asynq's client API", "path", p.Name(), "asynq", v, "reason", p.Reason)
	}
	return p
}

func init() {
	serviceredis.Of = func(v any) (redis.UniversalClient, string) {
		s := v.(*Service)
		return s.rdb, s.store.Prefix()
	}
	servicewait.SubmitWait = func(v any, ctx context.Context, req any, wait time.Duration) (*job.Execution, bool, error, error) {
		return v.(*Service).submitWait(ctx, req.(SubmitRequest), wait)
	}
	servicewait.GetWait = func(v any, ctx context.Context, id string, wait time.Duration, check func(*job.Execution) error) (*job.Execution, error, error) {
		return v.(*Service).getWait(ctx, id, wait, check)
	}
	servicecompare.Compare = func(v any, ctx context.Context, cur any, baselineID string, o experiment.CompareOptions) (*experiment.Comparison, string, error) {
		c, base, err := v.(*Service).compareResults(ctx, cur.(*ExperimentResults), baselineID, o)
		if err != nil {
			return nil, "", err
		}
		return c, base.Experiment.Owner, nil
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Register adds job types to the service's registry. Register them before
// Work starts so workers know them.
func (s *Service) Register(defs ...*job.Definition) error {
	for _, d := range defs {
		if err := s.reg.Register(d); err != nil {
			return err
		}
	}
	return nil
}

// Registry returns the registry of job types.
func (s *Service) Registry() *registry.Registry { return s.reg }

// WorkerID returns the name this process uses in records and heartbeats.
func (s *Service) WorkerID() string { return s.workerID }

// Embedded reports whether the service runs on its embedded in-memory
// Redis (no Redis configured), which only this process can reach. The
// REST handler then accepts an empty JWTSecret (see httpapi.Options).
func (s *Service) Embedded() bool { return s.mini != nil }

// Close stops running Work calls (gracefully, as when their context ends),
// cancels running sync jobs, stops background work and releases the
// connections the service opened (not a client passed in Config.Redis).
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop()
		s.workers.Wait()
		s.rt.cancelAll(errClosed)
		_ = s.rt.ps.Close() // ends the listener
		s.bg.Wait()
		err = errors.Join(s.queue.Close(), s.closeRedis())
	})
	return err
}

func (s *Service) closeRedis() error {
	var err error
	if s.ownRedis && s.rdb != nil {
		err = s.rdb.Close()
	}
	if s.mini != nil {
		s.mini.Close()
	}
	return err
}

func nowUTC() time.Time { return time.Now().UTC() }

var numCPU = runtime.NumCPU
