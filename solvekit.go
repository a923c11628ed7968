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
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
	"github.com/solvekit/solvekit/store"
	"github.com/solvekit/solvekit/transport/queue"
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
	mini     *miniredis.Miniredis
	reg      *registry.Registry
	store    *store.Store
	queue    *queue.Client
	workerID string
	// fused: Submit writes the record and its asynq task in one script
	// (every Redis but Cluster, where the two live in different slots).
	fused bool

	rt *runtime_

	closeOnce sync.Once
	closing   context.Context // done when Close starts
	stop      context.CancelFunc
	bg        sync.WaitGroup // background loops
	workers   sync.WaitGroup // running Work calls
}

// New connects to Redis (or starts the embedded one) and returns a Service.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	s := &Service{cfg: cfg, reg: cfg.Registry}
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
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("solvekit: start embedded redis: %w", err)
		}
		s.mini = m
		s.rdb, s.ownRedis = redis.NewClient(&redis.Options{Addr: m.Addr(), PoolSize: 64}), true
		cfg.Logger.Warn("solvekit: no Redis configured; using an embedded in-memory Redis: data lives in memory only and is lost when the process exits",
			"addr", m.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
	s.store = store.New(s.rdb, store.Options{Prefix: cfg.Prefix})
	s.queue = queue.NewClient(s.rdb)
	_, cluster := s.rdb.(*redis.ClusterClient)
	s.fused = !cluster
	bgctx, stop := context.WithCancel(context.Background())
	s.closing, s.stop = bgctx, stop
	s.rt = newRuntime(bgctx, s)
	s.bg.Add(2)
	go func() { defer s.bg.Done(); s.rt.listen() }()
	go func() { defer s.bg.Done(); s.rt.heartbeatLoop(bgctx) }()
	return s, nil
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

// Store returns the record store (for adapters such as the REST handler).
func (s *Service) Store() *store.Store { return s.store }

// Queue returns the queue client (for queue operations: counts, pause).
func (s *Service) Queue() *queue.Client { return s.queue }

// Redis returns the shared Redis client.
func (s *Service) Redis() redis.UniversalClient { return s.rdb }

// WorkerID returns the name this process uses in records and heartbeats.
func (s *Service) WorkerID() string { return s.workerID }

// Embedded reports whether the service runs on its embedded in-memory Redis.
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
