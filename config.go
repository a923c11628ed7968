package solvekit

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// Config configures a Service. Every field is optional; the zero value
// runs on an embedded in-memory Redis with one "default" queue. The
// embedded Redis listens on no port and no socket: only this process can
// reach it (its connections are in-process pipes).
type Config struct {
	// Redis is an existing client to share. It wins over RedisURL and
	// RedisOptions. The Service does not close it, nor change it unless
	// ObserveRedis is set. A go-redis failover client
	// (redis.NewFailoverClient: Sentinel) works as well as a plain one,
	// Durability included: after a failover its commands reach the
	// promoted primary, and what failed during it failed with the typed
	// errors (job.ErrUnavailable, job.ErrOutcomeUnknown).
	Redis redis.UniversalClient
	// ObserveRedis adds to Config.Redis the go-redis hook that reports
	// its failed commands as SignalRedisError (SubscribeSignals; the
	// solvekit_redis_errors_total metric), the failures of its other
	// users included. A client New makes itself (RedisURL, RedisOptions,
	// the embedded Redis) always has the hook. go-redis's AddHook must not
	// run while the client is in use: set this only when nothing else
	// sends commands on the client while New runs.
	ObserveRedis bool
	// RedisURL is a redis://, rediss:// or unix:// URL (go-redis ParseURL).
	RedisURL string
	// RedisOptions configures Sentinel (MasterName + Addrs, the
	// sentinels' addresses: a failover client, as in Redis) or Cluster
	// (several Addrs) through go-redis' UniversalOptions.
	RedisOptions *redis.UniversalOptions
	// Prefix starts every solvekit key. Default "{solvekit}" (a Cluster
	// hash tag, so solvekit's scripts stay atomic there).
	Prefix string
	// Durability says when a write counts as done: Local (the zero value,
	// default) once the Redis primary applied it, or Replicated(n, d)
	// once n replicas have it too (WAIT; see Durability).
	Durability Durability

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
	// WorkerTags are the tags of this process's workers ("gpu",
	// "cplex-license"): besides untagged work, Work runs the executions
	// whose required tags (SubmitRequest.RequireTags, job.WithRequiredTags)
	// are all among them, and a worker without them never does. At most 6
	// (each subset is a queue the worker polls; see docs/tags.md); a
	// malformed tag makes New fail with CodeInvalid.
	WorkerTags []string
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
	// SchedulerInterval is how often Work's scheduler looks for scheduled
	// executions that are due and periodic schedules whose tick has come
	// (see docs/schedules.md). Default 250ms.
	SchedulerInterval time.Duration
	// ScheduleGrace is how late a periodic schedule's tick may be handled
	// and still fire as usual; older ticks were missed (no process ran
	// Work) and follow the schedule's catch-up policy. Default 1m.
	ScheduleGrace time.Duration
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
	// IdempotencyWindow is how long a SubmitRequest.IdempotencyKey is
	// remembered: a submit with the same key within it returns the first
	// execution instead of making a new one. Default 24h.
	IdempotencyWindow time.Duration

	// AsynqPublicAPI makes solvekit use asynq only through its public API:
	// tasks enqueued with asynq's client (one more round trip per submit)
	// and completed by asynq's server (one more per finish), and a dead
	// worker's task left to asynq's lease recovery. By default (false)
	// solvekit writes a task inside the same Redis script as its execution
	// record and completes it in the script that records the attempt's end,
	// when the linked asynq release is one whose private Redis layout the
	// project's tests check (v0.26.0) and Redis is not a Cluster; with any
	// other asynq release it takes the public path by itself. New logs
	// which path it took (docs/deploying.md).
	AsynqPublicAPI bool

	// Middleware wraps every job type's Func, sync and async alike, the
	// first one outermost (see job.Middleware and job.Chain): metrics,
	// tracing, logging or recovery around each attempt, with the job
	// Context (execution ID, attempt, job type, logger) at hand. Each job
	// type's chain is built once, at its first run in this Service.
	Middleware []job.Middleware
	// CallHooks observe the calls that create or restart work (Submit,
	// SubmitOnce, SubmitMany, Relaunch, and the REST API's submits), the
	// first one outermost (see CallHook): tracing.Tracer.CallHook gives
	// each a span whose trace the execution's attempts join.
	CallHooks []CallHook

	// SucceededRetention is how long a succeeded execution is kept after
	// it finished, with its input, solution, logs, events and files.
	// Default 7 days; negative keeps them forever. The retention sweep
	// (see DisableRetention) removes them.
	SucceededRetention time.Duration
	// StoppedRetention is SucceededRetention for stopped executions.
	// Default 7 days; negative: forever.
	StoppedRetention time.Duration
	// FailedRetention is SucceededRetention for failed and timed-out
	// executions, kept longer to be looked into. Default 30 days;
	// negative: forever.
	FailedRetention time.Duration
	// InstanceRetention is how long a stored instance (CreateInstance) is
	// kept after its creation while no stored execution names it: one
	// older than that is removed once the last execution that ran on it
	// is (an instance an execution still names is never removed). Default
	// 30 days; negative: forever.
	InstanceRetention time.Duration
	// DisableRetention turns the retention sweep off: nothing is removed
	// but by Delete, DeleteFinishedBefore and DeleteInstance. By default
	// one process at a time (any Service, with or without Work, holding a
	// short lease in Redis) removes expired executions and instances in
	// bounded batches.
	DisableRetention bool
	// RetentionInterval is how often the retention sweep runs. Default 1
	// minute; while a sweep leaves expired records behind (it removed
	// RetentionBatch), the next one runs after SweepInterval.
	RetentionInterval time.Duration
	// RetentionBatch bounds how many executions, and how many instances,
	// one retention sweep reads and removes. Default 500.
	RetentionBatch int

	// LogMaxLen caps each execution's log stream: past it the oldest
	// records are dropped (approximately: Redis trims whole stream nodes,
	// so a few more may be kept). Default 100,000 records.
	LogMaxLen int
	// EventsMaxLen caps each execution's event stream (status, progress,
	// incumbent events) the same way. Default 10,000 events.
	EventsMaxLen int

	// Blobs holds the content of execution files larger than
	// FileBlobThreshold (see BlobStore). Default: a blob store on the
	// Service's Redis, under the key prefix Prefix+":blob:".
	Blobs BlobStore
	// FileBlobThreshold is the size in bytes above which a file's content
	// goes to Blobs; smaller files are stored with their execution.
	// Default 1 MiB; negative stores every file with its execution.
	FileBlobThreshold int64

	// Logger receives the service's own logs. Default slog.Default().
	Logger *slog.Logger

	// CallbackSecret signs the callbacks sent to an execution's
	// ResultURL in solvekit's own format (header Solvekit-Signature; see
	// VerifyCallback). Without it such a ResultURL is refused at submit
	// with CodeInvalid: an unsigned callback could not be told from a
	// forged one. Callbacks in another format (ckan's, authorized by the
	// submitter's api_key) need none, and are signed too when it is set.
	CallbackSecret []byte
	// CallbackTimeout bounds one delivery attempt (connect, send, answer).
	// Default 10s.
	CallbackTimeout time.Duration
	// CallbackMaxAge is how long a callback is retried after the
	// execution ended; past it the delivery ends "failed". Default 24h.
	CallbackMaxAge time.Duration
	// CallbackBackoff returns the delay before attempt n+1 after failed
	// attempt n (1-based). Default 1s·2^(n-1), at most 10m.
	CallbackBackoff func(n int) time.Duration
	// CallbackInterval is how often due callbacks are looked for.
	// Default 1s.
	CallbackInterval time.Duration
	// CallbackAllowPrivate lets callbacks reach loopback, private,
	// link-local, unspecified and cloud metadata addresses, which are
	// refused by default (checked on the address actually dialled, so a
	// name that resolves to one is refused too). For tests and private
	// deployments; CallbackAllowedNets is narrower.
	CallbackAllowPrivate bool
	// CallbackAllowedNets are networks (CIDR, e.g. "10.1.0.0/16") that
	// callbacks may reach although they are private.
	CallbackAllowedNets []netip.Prefix
	// DisableCallbacks stops this process from delivering callbacks (the
	// deliveries stay due for the processes that do). By default every
	// Service, with or without Work, delivers: each due callback is
	// claimed by one of them for one attempt at a time.
	DisableCallbacks bool
}

// Retention periods' defaults.
const (
	week  = 7 * 24 * time.Hour
	month = 30 * 24 * time.Hour
)

// positiveOr sets *v to def unless it is positive.
func positiveOr[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// zeroOr sets *v to def when it is zero, for the settings where a
// negative value means something (a retention period that keeps forever).
func zeroOr[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) setDefaults() {
	if c.Registry == nil {
		c.Registry = registry.New()
	}
	positiveOr(&c.TaskCheckInterval, 10*time.Millisecond)
	positiveOr(&c.HeartbeatInterval, 2*time.Second)
	positiveOr(&c.HeartbeatTimeout, 10*time.Second)
	positiveOr(&c.SweepInterval, time.Second)
	positiveOr(&c.QueuedGrace, 5*time.Second)
	positiveOr(&c.SchedulerInterval, 250*time.Millisecond)
	positiveOr(&c.ScheduleGrace, time.Minute)
	positiveOr(&c.MaxLost, 5)
	positiveOr(&c.IdempotencyWindow, 24*time.Hour)
	positiveOr(&c.StopGrace, 10*time.Second)
	if c.RetryDelay == nil {
		c.RetryDelay = func(n int) time.Duration {
			d := time.Second << min(n-1, 6)
			return min(d, time.Minute)
		}
	}
	positiveOr(&c.ShutdownTimeout, 8*time.Second)
	zeroOr(&c.SucceededRetention, week)
	zeroOr(&c.StoppedRetention, week)
	zeroOr(&c.FailedRetention, month)
	zeroOr(&c.InstanceRetention, month)
	positiveOr(&c.RetentionInterval, time.Minute)
	positiveOr(&c.RetentionBatch, 500)
	positiveOr(&c.LogMaxLen, 100_000)
	positiveOr(&c.EventsMaxLen, 10_000)
	zeroOr(&c.FileBlobThreshold, 1<<20)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.setCallbackDefaults()
}
