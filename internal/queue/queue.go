package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// TaskType is the asynq task type solvekit uses for every attempt. The
// task carries no payload: the attempt is its task id. Type and payload are
// that small so the task message stays within Redis's default
// hash-max-listpack-value (64 bytes) for ids of up to 36 characters and
// queue names of up to 11: asynq's task hash is then a listpack of about
// 130 bytes instead of a hash table of about 470 (see docs/deploying.md).
const TaskType = "sk"

// legacyTaskType is the type of tasks written before solvekit v0.x kept
// the task message short: their payload holds the attempt. Workers still
// run them, so tasks queued before an upgrade are not stranded.
const legacyTaskType = "solvekit:run"

// Attempt names one attempt of one execution: the unit of queued work.
type Attempt struct {
	ID      string
	Attempt int
}

// TaskID returns the asynq TaskID of an attempt: unique per attempt, so the
// same attempt is never queued twice.
func (a Attempt) TaskID() string { return a.ID + ":" + strconv.Itoa(a.Attempt) }

// ParseAttempt decodes a task id (or a legacy task's payload, which held
// the same text).
func ParseAttempt(b []byte) (Attempt, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Attempt{}, fmt.Errorf("queue: bad payload %q", s)
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 1 {
		return Attempt{}, fmt.Errorf("queue: bad attempt in payload %q", s)
	}
	return Attempt{ID: s[:i], Attempt: n}, nil
}

// Client enqueues attempts.
type Client struct {
	c   *asynq.Client
	in  *asynq.Inspector
	rdb redis.UniversalClient
	// layout: HasTasks and Retire may use asynq's Redis layout (Path.Layout).
	layout bool
}

// NewClient returns a Client sharing rdb (asynq.NewClientFromRedisClient).
// layout is Path.Layout: whether HasTasks and Retire may use asynq's
// private Redis layout, or only its public API.
func NewClient(rdb redis.UniversalClient, layout bool) *Client {
	return &Client{c: asynq.NewClientFromRedisClient(rdb), in: asynq.NewInspectorFromRedisClient(rdb), rdb: rdb, layout: layout}
}

// Queued names an attempt and the queue its task is in.
type Queued struct {
	Queue string
	Attempt
}

// HasTasks reports which attempts still have a task in asynq, in any
// state. With the layout known it is one round trip (the existence of
// each task's hash); otherwise asynq's Inspector is asked about each.
func (c *Client) HasTasks(ctx context.Context, qs []Queued) ([]bool, error) {
	out := make([]bool, len(qs))
	if !c.layout {
		for i, q := range qs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			_, err := c.in.GetTaskInfo(queueName(q.Queue), q.TaskID())
			switch {
			case err == nil:
				out[i] = true
			case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
			default:
				return nil, fmt.Errorf("queue: task info %s: %w", q.TaskID(), err)
			}
		}
		return out, nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(qs))
	for i, q := range qs {
		cmds[i] = pipe.Exists(ctx, taskKey(queueName(q.Queue), q.TaskID()))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("queue: task keys: %w", err)
	}
	for i, cmd := range cmds {
		out[i] = cmd.Val() == 1
	}
	return out, nil
}

// Paused reports, for each queue named, whether asynq's workers are told
// to take none of its tasks. asynq's Inspector answers that only for a
// queue that has held a task; a queue paused before its first task (which
// Inspector.PauseQueue allows) is read here from its pause key when the
// layout is known. Without it the answer is false for such queues, and ok
// is false to say it is not known.
func (c *Client) Paused(ctx context.Context, queues []string) (paused []bool, ok bool, err error) {
	out := make([]bool, len(queues))
	if !c.layout {
		return out, false, nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(queues))
	for i, q := range queues {
		cmds[i] = pipe.Exists(ctx, keyPrefix(queueName(q))+"paused")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, false, fmt.Errorf("queue: pause keys: %w", err)
	}
	for i, cmd := range cmds {
		out[i] = cmd.Val() == 1
	}
	return out, true, nil
}

func queueName(q string) string {
	if q == "" {
		return "default"
	}
	return q
}

// keyPrefix starts the keys of asynq queue q (asynq v0.26 layout).
func keyPrefix(q string) string { return "asynq:{" + q + "}:" }

// taskKey is the hash of task id in queue q (asynq v0.26 layout).
func taskKey(q, id string) string { return keyPrefix(q) + "t:" + id }

// EnqueueOptions tune one enqueue.
type EnqueueOptions struct {
	// Queue is the asynq queue. Default "default".
	Queue string
	// Delay postpones processing (retry back-off).
	Delay time.Duration
	// Timeout is the job's time limit; asynq's own timeout is set beyond
	// it so that solvekit, not asynq, decides what a time limit means.
	Timeout time.Duration
}

// taskTimeout is asynq's timeout for the task. asynq defaults to 30 min;
// give the job its own limit plus slack, or a year when it has none.
func (o EnqueueOptions) taskTimeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout + time.Minute
	}
	return 365 * 24 * time.Hour
}

// maxTaskRetries covers infrastructure failures only (the handler returns
// an error only when it could not reach the store); job retries are new
// attempts, each its own task.
const maxTaskRetries = 10

// Enqueue queues an attempt. Queueing an attempt that already has a task
// is not an error: it returns (false, nil).
func (c *Client) Enqueue(ctx context.Context, a Attempt, o EnqueueOptions) (bool, error) {
	if o.Queue == "" {
		o.Queue = "default"
	}
	opts := []asynq.Option{asynq.TaskID(a.TaskID()), asynq.Queue(o.Queue), asynq.MaxRetry(maxTaskRetries), asynq.Timeout(o.taskTimeout())}
	if o.Delay > 0 {
		opts = append(opts, asynq.ProcessIn(o.Delay))
	}
	_, err := c.c.EnqueueContext(ctx, asynq.NewTask(TaskType, nil), opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: enqueue %s: %w", a.TaskID(), err)
	}
	return true, nil
}

// Delete removes a pending or scheduled task of an attempt, if any (used
// when a queued execution is cancelled). Missing tasks are not an error.
func (c *Client) Delete(queue string, a Attempt) error {
	if queue == "" {
		queue = "default"
	}
	err := c.in.DeleteTask(queue, a.TaskID())
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	return err
}

// Inspector exposes asynq's inspector for queue operations (counts, pause,
// resume, workers).
func (c *Client) Inspector() *asynq.Inspector { return c.in }

// Close releases the client. The Redis connection is shared and owned by
// whoever created it, so there is nothing of asynq's to close.
func (c *Client) Close() error { return nil }

// Handler runs one attempt. It returns an error only for infrastructure
// failures, which asynq retries.
type Handler func(ctx context.Context, a Attempt) error

// ServerConfig configures a worker Server.
type ServerConfig struct {
	// Concurrency is the number of attempts run at once.
	Concurrency int
	// Queues maps queue names to weights (asynq's weighted priority).
	Queues map[string]int
	// StrictPriority drains higher-weight queues first.
	StrictPriority bool
	// TaskCheckInterval is how long an idle worker waits before polling
	// again; small values give fast pickup.
	TaskCheckInterval time.Duration
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration
	// Logger receives asynq's own log lines.
	Logger *slog.Logger
	// CompleteInScripts lets handlers complete their tasks in the store's
	// finish script (CompletionFrom). Set it only when the linked asynq's
	// layout is known (LayoutKnown) and Redis is not a Cluster; otherwise
	// handlers get no Completion and asynq completes every task itself.
	CompleteInScripts bool
}

// Server runs a Handler for queued attempts.
type Server struct {
	srv  *asynq.Server
	h    Handler
	done *completed
}

// NewServer returns a Server sharing rdb. Its handlers may complete their
// tasks themselves (CompletionFrom).
func NewServer(rdb redis.UniversalClient, cfg ServerConfig, h Handler) *Server {
	var done *completed
	if cfg.CompleteInScripts {
		done = &completed{}
		rdb = doneAnswering{UniversalClient: rdb, done: done}
	}
	s := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       cfg.Concurrency,
		Queues:            cfg.Queues,
		StrictPriority:    cfg.StrictPriority,
		TaskCheckInterval: cfg.TaskCheckInterval,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Logger:            slogAdapter{cfg.Logger},
		LogLevel:          asynq.WarnLevel,
		// Job errors never reach asynq; only store failures do, retry soon.
		RetryDelayFunc: func(n int, _ error, _ *asynq.Task) time.Duration {
			return time.Duration(min(n+1, 10)) * time.Second
		},
	})
	return &Server{srv: s, h: h, done: done}
}

// Start starts processing in the background.
func (s *Server) Start() error {
	mux := asynq.NewServeMux()
	run := func(ctx context.Context, t *asynq.Task) error {
		named := t.Payload() // a legacy task names its attempt in its payload
		if len(named) == 0 {
			id, _ := asynq.GetTaskID(ctx)
			named = []byte(id)
		}
		a, err := ParseAttempt(named)
		if err != nil {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		return s.h(s.withCompletion(ctx), a)
	}
	mux.HandleFunc(TaskType, run)
	mux.HandleFunc(legacyTaskType, run)
	return s.srv.Start(mux)
}

// Shutdown stops fetching tasks and waits for running ones (up to the
// shutdown timeout).
func (s *Server) Shutdown() { s.srv.Shutdown() }

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) log(level slog.Level, args ...any) {
	if a.l != nil {
		a.l.Log(context.Background(), level, fmt.Sprint(args...), "component", "asynq")
	}
}
func (a slogAdapter) Debug(args ...any) { a.log(slog.LevelDebug, args...) }
func (a slogAdapter) Info(args ...any)  { a.log(slog.LevelInfo, args...) }
func (a slogAdapter) Warn(args ...any)  { a.log(slog.LevelWarn, args...) }
func (a slogAdapter) Error(args ...any) { a.log(slog.LevelError, args...) }
func (a slogAdapter) Fatal(args ...any) { a.log(slog.LevelError+4, args...) }
