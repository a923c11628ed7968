package solvekit

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/registry"
)

// Config configures a Service. Every field is optional; the zero value
// runs on an embedded in-memory Redis with one "default" queue.
type Config struct {
	// Redis is an existing client to share. It wins over RedisURL and
	// RedisOptions. The Service does not close it.
	Redis redis.UniversalClient
	// RedisURL is a redis://, rediss:// or unix:// URL (go-redis ParseURL).
	RedisURL string
	// RedisOptions configures Sentinel (MasterName + Addrs) or Cluster
	// (several Addrs) through go-redis' UniversalOptions.
	RedisOptions *redis.UniversalOptions
	// Prefix starts every solvekit key. Default "{solvekit}" (a Cluster
	// hash tag, so solvekit's scripts stay atomic there).
	Prefix string

	// Registry holds the job types. Default: a new, empty registry; add
	// types with Service.Register.
	Registry *registry.Registry

	// Queues maps asynq queue names to weights; higher weights are served
	// more often (strictly first with StrictPriority). This is how
	// priorities are expressed. Default {"default": 1}; queues named by
	// registered job types are added with weight 1.
	Queues map[string]int
	// StrictPriority serves queues strictly by weight.
	StrictPriority bool
	// Concurrency is how many async attempts one Work call runs at once.
	// Default runtime.NumCPU().
	Concurrency int
	// TaskCheckInterval is how long an idle worker waits before polling
	// for work again. Default 10ms (asynq's 1s default would add 0.5s
	// median pickup latency).
	TaskCheckInterval time.Duration

	// WorkerID names this process in records and heartbeats. Default
	// hostname:pid:random.
	WorkerID string
	// HeartbeatInterval is how often running attempts are marked alive.
	// Default 2s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a heartbeat may be missing before the
	// attempt counts as lost and is requeued. Default 10s.
	HeartbeatTimeout time.Duration
	// SweepInterval is how often Work looks for lost attempts. Default 1s.
	SweepInterval time.Duration
	// QueuedGrace is how old a queued execution must be before the sweeper
	// checks that it has a task (and enqueues one if a crash lost it).
	// Default 5s.
	QueuedGrace time.Duration
	// MaxLost is how many lost attempts an execution may have before it is
	// failed instead of requeued (a job that kills its worker). Default 5.
	MaxLost int
	// StopGrace is how long a job may take to return after it is stopped
	// or reaches its time limit before solvekit abandons it and records
	// its last incumbent. Default 10s.
	StopGrace time.Duration
	// RetryDelay returns the delay before retry n (1-based) of an
	// unexpected error. Default 1s·2^(n-1), at most 1m.
	RetryDelay func(n int) time.Duration
	// ShutdownTimeout bounds how long Work waits for running attempts when
	// its context ends; unfinished ones are requeued. Default 8s.
	ShutdownTimeout time.Duration

	// Logger receives the service's own logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Registry == nil {
		c.Registry = registry.New()
	}
	if c.TaskCheckInterval <= 0 {
		c.TaskCheckInterval = 10 * time.Millisecond
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 10 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.QueuedGrace <= 0 {
		c.QueuedGrace = 5 * time.Second
	}
	if c.MaxLost <= 0 {
		c.MaxLost = 5
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.RetryDelay == nil {
		c.RetryDelay = func(n int) time.Duration {
			d := time.Second << min(n-1, 6)
			return min(d, time.Minute)
		}
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 8 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
