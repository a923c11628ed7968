package store

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

//go:embed lua/*.lua lua/lib/*.lua
var luaFS embed.FS

// script loads lua/<name>.lua, with the helpers of lua/lib it calls in
// front: the event stream's (events.lua), the indexes' (index.lua), the
// asynq task's (task.lua), the callbacks' (callbacks.lua) and the new
// record's (create.lua).
func script(name string) *redis.Script {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	src := string(b)
	for _, lib := range []struct{ call, file string }{{"ensure_events(", "events"}, {"ix_", "index"}, {"write_task(", "task"}, {"cb_due(", "callbacks"}, {"create_one(", "create"}, {"sched_next(", "schedules"}} {
		if strings.Contains(src, lib.call) {
			l, err := luaFS.ReadFile("lua/lib/" + lib.file + ".lua")
			if err != nil {
				panic(err)
			}
			src = string(l) + "\n" + src
		}
	}
	sc := redis.NewScript(src)
	scriptSource[sc] = src
	return sc
}

// scriptSource holds each script's source, for the batcher's EVAL after a
// NOSCRIPT (go-redis's Script does not show it). Written only while the
// package initialises.
var scriptSource = map[*redis.Script]string{}

var (
	createScript     = script("create")
	createManyScript = script("create_many")
	startScript      = script("start")
	finishScript     = script("finish")
	requeueScript    = script("requeue")
	cancelScript     = script("cancel")
	heartbeatScript  = script("heartbeat")
	reportScript     = script("report")
	deleteScript     = script("delete")
	ensureScript     = script("ensure_events")
	labelsScript     = script("labels")
	mergeScript      = script("merge")
	reindexScript    = script("reindex")
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty. The
// braces make it a Redis Cluster hash tag.
const DefaultPrefix = "{solvekit}"

// Options tunes a Store. The zero value is usable.
type Options struct {
	// Prefix starts every key. Default DefaultPrefix. Keep it a hash tag
	// ("{...}") on Redis Cluster.
	Prefix string
	// EventsMaxLen caps each execution's event stream (approximately).
	// Default 10000.
	EventsMaxLen int
	// LogMaxLen caps each execution's log stream (approximately). Default
	// 100000 records.
	LogMaxLen int
	// Pipelines is how many pipelines of hot-path writes (create, start,
	// finish) may be on the wire at once; calls made meanwhile wait and go
	// out together in the next one. Default 4. With one, Redis sits idle
	// while each pipeline's replies travel back and are handed out, and
	// every caller waits for that; a few in flight keep it busy, and
	// measured 10-15% more jobs per second end to end (bench/) at about
	// the same CPU per job.
	Pipelines int
	// RetryWindow is how long a call that Redis declines (connection
	// refused, LOADING after a restart, and the like: see Classify) keeps
	// being sent again, with pauses from 10ms up to 200ms, before its
	// error comes back as job.CodeUnavailable. Default DefaultRetryWindow;
	// negative: no retries.
	RetryWindow time.Duration
	// Replicas, when above zero, makes every acknowledged write (create,
	// create many, finish, cancel, requeue, schedule put) wait until that many replicas
	// have it: the write and a WAIT Replicas ReplicaTimeout go out in one
	// pipeline on one connection, and a WAIT that counts fewer replicas
	// fails the call with ErrNotReplicated (code job.CodeOutcomeUnknown).
	// Zero: no WAIT is sent. The client must not be a Cluster or Ring
	// client (the WAIT would go to another node).
	Replicas int
	// ReplicaTimeout bounds each WAIT when Replicas is above zero. Default
	// DefaultReplicaTimeout.
	ReplicaTimeout time.Duration
}

// DefaultReplicaTimeout is Options.ReplicaTimeout's default.
const DefaultReplicaTimeout = time.Second

// DefaultPipelines is Options.Pipelines' default.
const DefaultPipelines = 4

// Store reads and writes solvekit records on Redis. It is safe for
// concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	b      *batcher
	k      keys
	evMax  string
	logMax int64
	// queues holds the asynq queue names this store has added to asynq's
	// set of queues (key "\x00" queue).
	queues sync.Map
	// retryWindow is Options.RetryWindow.
	retryWindow time.Duration
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.EventsMaxLen <= 0 {
		opts.EventsMaxLen = 10000
	}
	if opts.LogMaxLen <= 0 {
		opts.LogMaxLen = 100000
	}
	if opts.Pipelines <= 0 {
		opts.Pipelines = DefaultPipelines
	}
	switch {
	case opts.RetryWindow == 0:
		opts.RetryWindow = DefaultRetryWindow
	case opts.RetryWindow < 0:
		opts.RetryWindow = 0
	}
	if opts.Replicas > 0 && opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = DefaultReplicaTimeout
	}
	b := newBatcher(rdb, opts.Pipelines, opts.RetryWindow)
	if opts.Replicas > 0 {
		b.wait = &waiter{replicas: opts.Replicas, timeout: opts.ReplicaTimeout}
	}
	return &Store{rdb: rdb, b: b, retryWindow: opts.RetryWindow,
		k: keys{opts.Prefix}, evMax: strconv.Itoa(opts.EventsMaxLen), logMax: int64(opts.LogMaxLen)}
}

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Prefix returns the prefix of every key of the store.
func (s *Store) Prefix() string { return s.k.p }

// CancelChannel is the pub/sub channel carrying ids whose cancel was requested.
func (s *Store) CancelChannel() string { return s.k.cancelChannel() }

// DoneChannel is the pub/sub channel on which the id of execution id is
// published when it reaches a terminal state. Each execution has its own
// channel, so that a process hears only of the executions it waits for and
// a finish nobody waits for costs Redis no delivery.
func (s *Store) DoneChannel(id string) string { return s.k.done(id) }

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func notFound(id string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("execution %q not found", id)}
}

// Create writes a new execution record with its input, in the state
// e.State (queued, or running for sync jobs run in place). It fails with a
// conflict if the id exists.
func (s *Store) Create(ctx context.Context, e *job.Execution, input json.RawMessage) error {
	return s.CreateWithTask(ctx, e, input, nil)
}

// Task is a queue task written in the same script as the record it runs
// (transport/queue.NewTask builds one in asynq's layout). Its keys must
// live on the same Redis node as the store's: not on Redis Cluster.
type Task struct {
	// ID is the task's id; Queue the queue's name.
	ID, Queue string
	// Key is the task's hash, PendingKey the queue's pending list and
	// QueuesKey the set of queue names.
	Key, PendingKey, QueuesKey string
	// Msg is the encoded task message; PendingSince the enqueue time as
	// Unix nanoseconds.
	Msg          []byte
	PendingSince string
}

// CreateWithTask is Create that also writes the execution's queue task in
// the same atomic step when task is not nil: the record and its task then
// appear together or not at all, in one round trip.
func (s *Store) CreateWithTask(ctx context.Context, e *job.Execution, input json.RawMessage, task *Task) error {
	return s.create(ctx, e, input, task, false, "", nil)
}

// CreateNew is CreateWithTask for an id generated for this call (a UUIDv7,
// as Submit makes), which no other call can have used. If the record exists
// anyway, only an earlier send of this same call can have written it: its
// reply was lost and the call was sent again (go-redis retries, or the
// store's pipelines re-send after a broken connection). CreateNew then
// reports success, not a conflict, so that a submit whose execution is
// stored and queued never fails and is never submitted twice by a caller
// that retries.
//
// jobKey, when not empty, is the execution's job key: its hash is written
// in the record by the same script (see CheckJobKey).
//
// extra are more record fields written by the same script (CallbackFields).
func (s *Store) CreateNew(ctx context.Context, e *job.Execution, input json.RawMessage, task *Task, jobKey string, extra ...Field) error {
	return s.create(ctx, e, input, task, true, jobKey, extra)
}

// CreateChosen is CreateNew for an id the caller chose: a record that
// exists under it is refused with CodeConflict, since it may be another
// submit's.
func (s *Store) CreateChosen(ctx context.Context, e *job.Execution, input json.RawMessage, task *Task, jobKey string, extra ...Field) error {
	return s.create(ctx, e, input, task, false, jobKey, extra)
}

func (s *Store) create(ctx context.Context, e *job.Execution, input json.RawMessage, task *Task, fresh bool, jobKey string, extra []Field) error {
	c, err := s.createCall(e, input, task, jobKey, extra)
	if err != nil {
		return err
	}
	if err := s.writeBig(ctx, c); err != nil {
		return err
	}
	// Only CreateNew may be sent again after a lost reply (see scriptCall).
	n, err := s.b.run(ctx, fresh, createScript, c.keys, c.argv...).Int()
	if err != nil {
		return fmt.Errorf("store: create %s: %w", e.ID, err)
	}
	if n == 0 && !fresh {
		return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("execution %q exists", e.ID)}
	}
	s.published(c)
	return nil
}

// NewExecution is one item of CreateMany: a record, its input, its task
// (nil when it is enqueued apart), its job key, and whether its id was the
// caller's choice (CreateChosen) rather than generated (CreateNew).
type NewExecution struct {
	E      *job.Execution
	Input  json.RawMessage
	Task   *Task
	JobKey string
	Chosen bool
	// Extra are more record fields (CallbackFields).
	Extra []Field
}

// CreateMany writes several new executions in one script, as Create
// writes one: all or none. A record that exists already under a chosen id
// is refused with CodeConflict naming it, and nothing is written. When
// every id was generated and every record exists, an earlier send of this
// same call wrote them all (its reply was lost), and CreateMany reports
// success, as CreateNew does.
func (s *Store) CreateMany(ctx context.Context, items []NewExecution) error {
	if len(items) == 0 {
		return nil
	}
	keys := make([]string, 0, 10*len(items))
	head := make([]any, 1, 1+2*len(items))
	head[0] = strconv.Itoa(len(items))
	var argv []any
	calls := make([]createCall, len(items))
	fresh := true
	ids := make(map[string]bool, len(items))
	for i, it := range items {
		if ids[it.E.ID] {
			return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("execution %q is twice in the batch", it.E.ID)}
		}
		ids[it.E.ID] = true
		c, err := s.createCall(it.E, it.Input, it.Task, it.JobKey, it.Extra)
		if err != nil {
			return err
		}
		calls[i] = c
		fresh = fresh && !it.Chosen
		keys = append(keys, c.keys...)
		head = append(head, strconv.Itoa(len(c.keys)), strconv.Itoa(len(c.argv)))
		argv = append(argv, c.argv...)
	}
	if err := s.writeBig(ctx, calls...); err != nil {
		return err
	}
	n, err := s.b.run(ctx, fresh, createManyScript, keys, append(head, argv...)...).Int()
	if err != nil {
		return fmt.Errorf("store: create %d executions: %w", len(items), err)
	}
	if n > 0 || (n == -1 && !fresh) {
		at := max(n, 1) - 1
		return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("execution %q exists", items[at].E.ID)}
	}
	for _, c := range calls {
		s.published(c)
	}
	return nil
}

// createCall is the keys and arguments of create.lua for one execution,
// and the asynq queue (queues key "\x00" queue) its task adds to asynq's
// set of queues, if any.
type createCall struct {
	keys      []string
	argv      []any
	published string
	// big is an input over bigInput, which writeBig stores under upload
	// before the script runs.
	big    json.RawMessage
	upload string
}

// bigInput is the input size above which create does not pass the input
// through its script: redis-server spends about 27 ms turning a 10 MB
// argument into a Lua string, and as long again turning it back for the
// script's SET, where a plain SET of it costs well under a millisecond.
// Such an input is SET under a key of its own (with a TTL) before the
// script, which renames it to the input's key in the step that writes the
// record (flag "x"), or deletes it when the record exists; an upload whose
// script never ran expires.
const bigInput = 64 << 10

// bigInputTTL bounds how long a large input whose create never ran stays.
const bigInputTTL = 10 * time.Minute

// writeBig stores the large inputs of calls ahead of their scripts.
func (s *Store) writeBig(ctx context.Context, calls ...createCall) error {
	var big []createCall
	for _, c := range calls {
		if c.big != nil {
			big = append(big, c)
		}
	}
	if len(big) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range big {
			p.Set(ctx, c.upload, []byte(c.big), bigInputTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write input: %w", err)
	}
	return nil
}

func (s *Store) createCall(e *job.Execution, input json.RawMessage, task *Task, jobKey string, extra []Field) (createCall, error) {
	if e.State == "" {
		e.State = job.StateQueued
	}
	if e.Attempt == 0 {
		e.Attempt = 1
	}
	if err := checkLabels(e.Metadata); err != nil {
		return createCall{}, err
	}
	fields := encode(e)
	flags := ""
	var c createCall
	arg := []byte(input)
	switch n := len(input); {
	case n > 0 && n <= inlineInput:
		fields, flags = append(fields, inputField, arg), "i"
	case n > bigInput:
		// Written by a plain SET before the script, under a key of its
		// own that the script renames (see bigInput).
		c.big, c.upload, flags = input, s.k.input(e.ID)+":up:"+randHex(8), "x"
		arg = []byte(c.upload)
	}
	if jobKey != "" {
		fields = append(fields, jobKeyField, hashKey(jobKey))
	}
	for _, f := range extra {
		if f.Value != "" {
			fields = append(fields, f.Name, f.Value)
		}
	}
	c.keys = make([]string, 0, 10)
	c.keys = append(c.keys, s.k.meta(e.ID), s.k.input(e.ID))
	c.argv = make([]any, 0, 9+len(fields))
	c.argv = append(c.argv, ms(e.CreatedAt), arg, "0", e.ID)
	// A scheduled execution (no task yet) waits in the due set.
	due := task == nil && e.State == job.StateScheduled && e.RunAt != nil
	if task != nil {
		// asynq's set of queue names is written once per queue and process,
		// as asynq's own client does (it is for tools that list queues).
		if q := task.QueuesKey + "\x00" + task.Queue; !s.queuePublished(q) {
			c.published, c.argv[2] = q, "1"
		}
		c.keys = append(c.keys, task.Key, task.PendingKey, task.QueuesKey)
		c.argv = append(c.argv, "t"+flags, task.ID, task.Msg, task.Queue, task.PendingSince)
	} else if due {
		// Not queued yet: the id waits in the due set for its run time.
		c.argv = append(c.argv, flags+"d", ms(*e.RunAt), "", "", "")
	} else {
		c.argv = append(c.argv, flags, "", "", "", "")
	}
	c.keys = s.k.appendIndexes(c.keys, e)
	var tagFlag string
	c.keys, tagFlag = s.k.appendTagIndexes(c.keys, e)
	if tagFlag != "" {
		c.argv[4] = c.argv[4].(string) + tagFlag
	}
	if due {
		c.keys = append(c.keys, s.k.due())
	}
	c.argv = append(c.argv, fields...)
	return c, nil
}

// published notes that c's script added its queue to asynq's set.
func (s *Store) published(c createCall) {
	if c.published != "" {
		s.queues.Store(c.published, true)
	}
}

// inlineInput is the largest input kept in the record's hash (field "in")
// rather than in a key of its own: a key costs about 100 bytes of Redis
// memory, and a value up to 64 bytes keeps the hash a listpack (Redis's
// default hash-max-listpack-value).
const inlineInput = 64

// inputField is the record's field holding a small input (inlineInput).
const inputField = "in"

// queuePublished tells whether this store has already added q (queues key
// "\x00" queue name) to asynq's set of queues.
func (s *Store) queuePublished(q string) bool {
	_, ok := s.queues.Load(q)
	return ok
}

// encode turns a record into hash field/value pairs, job_type first (create.lua
// reads it there). The id is the key's,
// and zero numbers are left out (decode reads an absent field as zero):
// every argument costs the client and the script something.
func encode(e *job.Execution) []any {
	f := make([]any, 0, 24)
	f = append(f, "job_type", e.JobType, "kind", string(e.Kind), "state", string(e.State),
		"attempt", strconv.Itoa(e.Attempt), "queue", e.Queue, "created_at", ms(e.CreatedAt))
	if e.MaxRetries != 0 {
		f = append(f, "max_retries", strconv.Itoa(e.MaxRetries))
	}
	if e.Timeout != 0 {
		f = append(f, "timeout_ms", strconv.FormatInt(e.Timeout.Milliseconds(), 10))
	}
	add := func(k, v string) {
		if v != "" {
			f = append(f, k, v)
		}
	}
	add("name", e.Name)
	add("solver", e.Solver)
	add("owner", e.Owner)
	add("instance_id", e.InstanceID)
	if len(e.Config) > 0 {
		f = append(f, "config", []byte(e.Config))
	}
	if len(e.Metadata) > 0 {
		b, _ := json.Marshal(e.Metadata)
		f = append(f, "metadata", b)
	}
	if e.StartedAt != nil {
		f = append(f, "started_at", ms(*e.StartedAt), "heartbeat", ms(*e.StartedAt))
	}
	add("worker", e.Worker)
	if e.RunAt != nil {
		f = append(f, "run_at", ms(*e.RunAt))
	}
	add("schedule_id", e.ScheduleID)
	add("cb_url", e.ResultURL)
	add("tp", e.TraceParent)
	return appendTagFields(f, e)
}

// decode builds the record of execution id from its hash fields.
func decode(id string, m map[string]string) (*job.Execution, error) {
	e := &job.Execution{
		ID: id, JobType: m["job_type"], Kind: job.Kind(m["kind"]), Name: m["name"],
		State: job.State(m["state"]), SolverStatus: job.SolverStatus(m["solver_status"]),
		Solver: m["solver"], Queue: m["queue"], Owner: m["owner"], InstanceID: m["instance_id"],
		Worker: m["worker"], ProgressMsg: m["progress_msg"], ScheduleID: m["schedule_id"],
		HasSolution: m["has_solution"] == "1", CancelReq: m["cancel"] == "1",
		ResultURL: m["cb_url"], TraceParent: m["tp"], CallbackState: job.CallbackState(m["cb_state"]), CallbackAttempts: atoi(m["cb_n"]),
	}
	if e.State == "" {
		return nil, fmt.Errorf("store: record %s without state", id)
	}
	decodeTags(e, m)
	e.Attempt = atoi(m["attempt"])
	e.Retries = atoi(m["retries"])
	e.MaxRetries = atoi(m["max_retries"])
	if t, err := strconv.ParseInt(m["timeout_ms"], 10, 64); err == nil {
		e.Timeout = time.Duration(t) * time.Millisecond
	}
	if v := m["progress"]; v != "" {
		e.Progress, _ = strconv.ParseFloat(v, 64)
	}
	e.CreatedAt = parseMS(m["created_at"])
	e.StartedAt = parseMSPtr(m["started_at"])
	e.FinishedAt = parseMSPtr(m["finished_at"])
	e.Heartbeat = parseMSPtr(m["heartbeat"])
	e.RunAt = parseMSPtr(m["run_at"])
	e.Objective = parseFloatPtr(m["objective"])
	e.BestBound = parseFloatPtr(m["best_bound"])
	e.Gap = parseFloatPtr(m["gap"])
	if v := m["config"]; v != "" {
		e.Config = json.RawMessage(v)
	}
	jsonField := func(name string, dst any) error {
		if v := m[name]; v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return fmt.Errorf("store: execution %s field %s: %w", e.ID, name, err)
			}
		}
		return nil
	}
	return e, errors.Join(
		jsonField("metadata", &e.Metadata),
		jsonField("stats", &e.Stats),
		jsonField("checks", &e.Checks),
		jsonField("kpis", &e.KPIs),
		jsonField("log_json", &e.SolverLog),
		jsonField("error", &e.Error),
	)
}

// atoi reads an integer field; absent or malformed is 0 (and costs no
// error value).
func atoi(s string) int {
	if s == "" {
		return 0
	}
	n, _ := strconv.Atoi(s)
	return n
}

func parseMS(s string) time.Time {
	if s == "" {
		return time.Time{} // no error value to build and drop
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func parseMSPtr(s string) *time.Time {
	t := parseMS(s)
	if t.IsZero() {
		return nil
	}
	return &t
}

func parseFloatPtr(s string) *float64 {
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil
	}
	return &f
}

// Get reads one execution record.
func (s *Store) Get(ctx context.Context, id string) (*job.Execution, error) {
	var m map[string]string
	err := s.read(ctx, func() (err error) { m, err = s.rdb.HGetAll(ctx, s.k.meta(id)).Result(); return err })
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	if len(m) == 0 {
		return nil, notFound(id)
	}
	return decode(id, m)
}

// GetMany reads several records in one round trip, skipping missing ones.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]*job.Execution, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	err := s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		for i, id := range ids {
			cmds[i] = pipe.HGetAll(ctx, s.k.meta(id))
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: get many: %w", err)
	}
	out := make([]*job.Execution, 0, len(ids))
	for i, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue
		}
		e, err := decode(ids[i], m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Store) getBytes(ctx context.Context, key, id, what string) (json.RawMessage, error) {
	var b []byte
	err := s.read(ctx, func() (err error) { b, err = s.rdb.Get(ctx, key).Bytes(); return err })
	if errors.Is(err, redis.Nil) {
		if n, _ := s.rdb.Exists(ctx, s.k.meta(id)).Result(); n == 0 {
			return nil, notFound(id)
		}
		return nil, &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("execution %q has no %s", id, what)}
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s of %s: %w", what, id, err)
	}
	return b, nil
}

// Input returns the instance data an execution runs on.
func (s *Store) Input(ctx context.Context, id string) (json.RawMessage, error) {
	var in *redis.StringCmd
	var inline *redis.StringCmd
	err := s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		in = pipe.Get(ctx, s.k.input(id))
		inline = pipe.HGet(ctx, s.k.meta(id), inputField)
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: get instance of %s: %w", id, err)
	}
	if b, err := in.Bytes(); err == nil {
		return b, nil
	}
	if b, err := inline.Bytes(); err == nil {
		return b, nil
	}
	return s.getBytes(ctx, s.k.input(id), id, "instance")
}

// Solution returns the stored solution of a finished execution.
func (s *Store) Solution(ctx context.Context, id string) (json.RawMessage, error) {
	return s.getBytes(ctx, s.k.solution(id), id, "solution")
}

// Incumbent returns the best solution published so far by a running execution.
func (s *Store) Incumbent(ctx context.Context, id string) (json.RawMessage, error) {
	return s.getBytes(ctx, s.k.incumbent(id), id, "incumbent")
}

// Started is what Start returns: the record now running and its input.
// The record holds what a worker needs (the fields the sf* constants name, plus
// the state, worker, start and heartbeat that Start wrote), not the whole
// record; Get reads that.
type Started struct {
	Execution *job.Execution
	Input     json.RawMessage
	// Resumed says the record was already running this attempt on this
	// worker: an earlier send of the same Start ran but its reply was lost
	// (the caller retried, or the store re-sent it after a broken
	// connection). The caller owns the attempt as after a first Start,
	// unless it knows it runs the attempt already.
	Resumed bool
}

// ErrNotStartable is returned by Start when the execution is not queued at
// that attempt (already running elsewhere, finished, cancelled, or a stale
// task): the caller must do nothing.
var ErrNotStartable = errors.New("store: execution not startable")

// Start moves an execution from queued to running for the given attempt,
// stamping the worker and heartbeat, and returns the record with its input
// in the same round trip. Sent again for an attempt this worker already
// started, it succeeds with Started.Resumed set and writes nothing, so
// that a Start whose reply was lost can be retried.
func (s *Store) Start(ctx context.Context, id string, attempt int, worker string, now time.Time) (*Started, error) {
	keys := []string{s.k.meta(id), s.k.input(id), s.k.events(id), s.k.ixState(job.StateQueued),
		s.k.ixState(job.StateRunning)}
	res, err := s.b.run(ctx, false, startScript, keys, id, attempt, worker, ms(now), s.evMax).Slice()
	if err != nil {
		return nil, fmt.Errorf("store: start %s: %w", id, err)
	}
	n, _ := res[0].(int64)
	if n != 1 && n != 2 {
		return nil, fmt.Errorf("%w: %s is %v at attempt %v", ErrNotStartable, id, res[1], res[2])
	}
	vals, _ := res[1].([]any)
	if len(vals) != sfCount {
		return nil, fmt.Errorf("store: start %s: %d fields back, want %d", id, len(vals), sfCount)
	}
	f := func(i int) string { v, _ := vals[i].(string); return v }
	e := &job.Execution{ID: id, JobType: f(sfJobType), Kind: job.Kind(f(sfKind)), Solver: f(sfSolver),
		Queue: f(sfQueue), Attempt: atoi(f(sfAttempt)), Retries: atoi(f(sfRetries)),
		MaxRetries: atoi(f(sfMaxRetries)), CreatedAt: parseMS(f(sfCreated))}
	if t := atoi(f(sfTimeout)); t > 0 {
		e.Timeout = time.Duration(t) * time.Millisecond
	}
	if c := f(sfConfig); c != "" {
		e.Config = json.RawMessage(c)
	}
	if md := f(sfMetadata); md != "" {
		if err := json.Unmarshal([]byte(md), &e.Metadata); err != nil {
			return nil, fmt.Errorf("store: execution %s field metadata: %w", id, err)
		}
	}
	e.RequireTags, e.Tags = splitTags(f(sfRequireTags)), splitTags(f(sfTags))
	e.RunAt = parseMSPtr(f(sfRunAt))
	e.TraceParent = f(sfTraceParent)
	// The script returns the fields as they were; apply what it wrote.
	at := time.UnixMilli(now.UnixMilli()).UTC()
	e.State, e.Worker, e.StartedAt, e.Heartbeat = job.StateRunning, worker, &at, &at
	in, _ := res[2].(string)
	return &Started{Execution: e, Input: json.RawMessage(in), Resumed: n == 2}, nil
}

// The start script returns the record fields a worker needs, in the order
// of these indexes (its HMGET lists the same names): state, attempt,
// created_at, ev, job_type, kind, solver, queue, config, metadata,
// timeout_ms, retries, max_retries, worker, owner, in, require_tags, tags,
// run_at, tp.
const (
	sfState = iota
	sfAttempt
	sfCreated
	sfEv
	sfJobType
	sfKind
	sfSolver
	sfQueue
	sfConfig
	sfMetadata
	sfTimeout
	sfRetries
	sfMaxRetries
	sfWorker
	sfOwner
	sfInput       // the input when it is in the record (inlineInput)
	sfRequireTags // the worker tags it requires: a retry is routed as the attempt was
	sfTags
	sfRunAt       // when a scheduled execution was due (its queue wait starts there)
	sfTraceParent // the submit's W3C traceparent (WithTraceParent), for tracing
	sfCount       // how many fields start returns
)

// Outcome is the terminal write of one attempt.
type Outcome struct {
	State        job.State
	SolverStatus job.SolverStatus
	// Solution is stored when non-nil.
	Solution  json.RawMessage
	Objective *float64
	BestBound *float64
	Gap       *float64
	Stats     map[string]any
	Checks    []job.CheckResult
	KPIs      map[string]float64
	SolverLog map[string]any
	Error     *job.ErrorInfo
	// Incumbent says the attempt published an incumbent, whose key the
	// finish then deletes (always checked for attempts after the first).
	Incumbent bool
	// Task, when set, is the attempt's queue task, completed by the same
	// script (see TaskDone).
	Task *TaskDone
	// Repeated marks a Finish sent again, with the same outcome and time,
	// after an earlier call failed with job.CodeOutcomeUnknown: when that
	// earlier call landed, Finish reports true (not "ignored"). A Finish
	// that the store itself sends again after a lost reply does the same.
	Repeated bool
}

// TaskDone is a queue task that a finish completes in the same step as it
// writes the terminal state, as asynq's own Done would after the handler
// returns: removed from the queue's active list and lease set, its hash
// deleted, and the queue's processed counters incremented. One script
// instead of two saves a round trip and a script call per job, and the
// record's end and its task's end can no longer be seen apart.
// transport/queue builds it in asynq's layout. Its keys must live on the
// same Redis node as the store's: not on Redis Cluster.
type TaskDone struct {
	// ID is the task's id.
	ID string
	// ActiveKey and LeaseKey are the queue's active list and lease set;
	// Key the task's hash.
	ActiveKey, LeaseKey, Key string
	// ProcessedKey is the queue's counter of the day, expiring at
	// ExpireAt (Unix seconds); ProcessedTotalKey its all-time counter.
	ProcessedKey, ProcessedTotalKey string
	ExpireAt                        int64
	// Completed is set by Finish when it completed the task, or found it
	// gone (completed by an earlier send of the same finish whose reply
	// was lost, or retired by the sweeper). It stays false when the task
	// is still there but the finish was ignored (a stale attempt) or the
	// task was not active: asynq's own Done then runs as usual.
	Completed bool
}

// Finish writes the terminal state of a running attempt with its solution
// and verdict in one step. It returns false (and writes nothing) when the
// execution is not running that attempt any more: a late finish from a
// dead or superseded attempt is ignored. When a cancel was accepted while
// the attempt ran (Cancel answered CancelRequested), the execution ends
// stopped whatever o.State says, with o's solution and solver status, or
// without a solution the last incumbent (status feasible; not_solved
// when there is none).
func (s *Store) Finish(ctx context.Context, id string, attempt int, o Outcome, now time.Time) (bool, error) {
	if !o.State.Terminal() {
		return false, fmt.Errorf("store: finish %s with non-terminal state %q", id, o.State)
	}
	keys := append(make([]string, 0, 12), s.k.meta(id), s.k.solution(id), s.k.incumbent(id), s.k.events(id),
		s.k.ixState(job.StateRunning), s.k.ixState(o.State), s.k.ixState(job.StateStopped))
	taskID, expireAt := "", "0"
	if t := o.Task; t != nil {
		keys = append(keys, t.ActiveKey, t.LeaseKey, t.Key, t.ProcessedKey, t.ProcessedTotalKey)
		taskID, expireAt = t.ID, strconv.FormatInt(t.ExpireAt, 10)
	}
	has := "0"
	if o.Solution != nil {
		has = "1"
	}
	evt := `{"state":"` + string(o.State) + `","attempt":` + strconv.Itoa(attempt) + `,"solver_status":` + jsonString(string(o.SolverStatus)) + `}`
	inc := "0"
	if o.Incumbent || attempt > 1 {
		inc = "1"
	}
	argv := []any{id, attempt, string(o.State), ms(now), has, []byte(o.Solution), s.evMax, s.k.done(id), evt, inc,
		taskID, expireAt, "solver_status", string(o.SolverStatus), "progress", progressOf(o.State)}
	addF := func(k string, f *float64) {
		if f != nil {
			argv = append(argv, k, strconv.FormatFloat(*f, 'g', -1, 64))
		}
	}
	addF("objective", o.Objective)
	addF("best_bound", o.BestBound)
	addF("gap", o.Gap)
	addJ := func(k string, v any, present bool) {
		if present {
			b, _ := json.Marshal(v)
			argv = append(argv, k, b)
		}
	}
	addJ("stats", o.Stats, len(o.Stats) > 0)
	addJ("checks", o.Checks, len(o.Checks) > 0)
	addJ("kpis", o.KPIs, len(o.KPIs) > 0)
	addJ("log_json", o.SolverLog, len(o.SolverLog) > 0)
	addJ("error", o.Error, o.Error != nil)
	cmd, resent := s.b.runCall(ctx, true, finishScript, keys, argv...)
	n, err := cmd.Int()
	if err != nil {
		return false, fmt.Errorf("store: finish %s: %w", id, err)
	}
	if (n == 0 || n == 3) && (resent || o.Repeated) {
		// Ignored: unless the record holds this very finish, written by
		// an earlier send of it (3 says the task is gone, maybe by that
		// send too).
		if m := s.finishedAlready(ctx, id, attempt, o, now); m != 0 {
			n = m
		}
	}
	if o.Task != nil {
		o.Task.Completed = n == 2 || n == 3
	}
	return n == 1 || n == 2, nil
}

// finishedAlready tells a finish sent again (Outcome.Repeated, or by the
// batcher after a lost reply) that answered "ignored" whether the record
// holds this very finish (same attempt, state and finish time): the first
// send may have landed. Only such finishes pay its round trip; a late
// finish of a superseded attempt is answered in one. It returns what finish.lua answered that first send: 1, or 2
// when the task is gone too; 0 when the record's end is not this one.
func (s *Store) finishedAlready(ctx context.Context, id string, attempt int, o Outcome, now time.Time) int {
	pipe := s.rdb.Pipeline()
	rec := pipe.HMGet(ctx, s.k.meta(id), "state", "attempt", "finished_at")
	var task *redis.IntCmd
	if o.Task != nil {
		task = pipe.Exists(ctx, o.Task.Key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0
	}
	if v := rec.Val(); len(v) != 3 || v[0] != string(o.State) || v[1] != strconv.Itoa(attempt) || v[2] != ms(now) {
		return 0
	}
	if task != nil && task.Val() == 0 {
		return 2
	}
	return 1
}

// jsonString encodes s as a JSON string; the plain ones (every status
// solvekit defines) without going through encoding/json.
func jsonString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return string(b)
		}
	}
	return `"` + s + `"`
}

func progressOf(st job.State) string {
	if st == job.StateSucceeded {
		return "1"
	}
	return "0"
}

// RequeueMode says why a new attempt is started.
type RequeueMode string

// Requeue modes.
const (
	// Retry follows an unexpected error of a running attempt.
	Retry RequeueMode = "retry"
	// Lost follows a running attempt whose heartbeat stopped.
	Lost RequeueMode = "lost"
	// Relaunch restarts a finished execution on request.
	Relaunch RequeueMode = "relaunch"
)

// RequeueRequest describes one requeue.
type RequeueRequest struct {
	Mode RequeueMode
	// Attempt is the attempt expected to be current; 0 accepts any.
	Attempt int
	// HeartbeatBefore (Lost): only requeue when the heartbeat is older.
	HeartbeatBefore time.Time
	// MaxLost (Lost): past this many lost attempts the execution fails.
	MaxLost int
	// Error is recorded as the reason (Retry, and Lost when it fails).
	Error *job.ErrorInfo
	// Config replaces the config (Relaunch); nil keeps it.
	Config json.RawMessage
	// Solver replaces the solver together with Config (Relaunch): the
	// solver the new config selects, "" for none. Ignored without Config.
	Solver string
	// TraceParent (Relaunch), when set, replaces the stored traceparent:
	// the new attempts join the relauncher's trace.
	TraceParent string
}

// RequeueResult says what Requeue did.
type RequeueResult struct {
	// Requeued is true when a new attempt was queued (enqueue it).
	Requeued bool
	// Ended is true when a terminal state was written instead (a lost or
	// retried attempt whose cancel was requested, or one lost too often).
	Ended bool
	// Attempt is the current attempt after the call.
	Attempt int
	// State is the state after the call.
	State job.State
}

// Requeue starts a new attempt (see RequeueMode), or for a lost attempt
// whose cancel was requested (or that was lost too often) writes the
// terminal state instead.
func (s *Store) Requeue(ctx context.Context, id string, r RequeueRequest, now time.Time) (RequeueResult, error) {
	keys := []string{s.k.meta(id), s.k.solution(id), s.k.incumbent(id), s.k.events(id),
		s.k.ixState(job.StateQueued), s.k.ixState(job.StateRunning),
		s.k.ixState(job.StateStopped), s.k.ixState(job.StateFailed), s.k.ixState(job.StateSucceeded),
		s.k.ixState(job.StateTimedOut), s.k.log(id)}
	exp := ""
	if r.Attempt > 0 {
		exp = strconv.Itoa(r.Attempt)
	}
	var errJSON []byte
	if r.Error != nil {
		errJSON, _ = json.Marshal(r.Error)
	}
	res, err := s.runScript(ctx, requeueScript, keys, id, string(r.Mode), exp, ms(now),
		ms(r.HeartbeatBefore), r.MaxLost, s.evMax, s.k.done(id), errJSON, []byte(r.Config), r.Solver, r.TraceParent).Slice()
	if err != nil {
		return RequeueResult{}, fmt.Errorf("store: requeue %s: %w", id, err)
	}
	code, _ := res[0].(int64)
	att, _ := strconv.Atoi(fmt.Sprint(res[1]))
	st := job.State(fmt.Sprint(res[2]))
	if st == "missing" {
		return RequeueResult{}, notFound(id)
	}
	return RequeueResult{Requeued: code == 1, Ended: code == 2, Attempt: att, State: st}, nil
}

// CancelResult says what Cancel found.
type CancelResult string

// Cancel results.
const (
	// CancelStopped: the execution was queued and is now stopped.
	CancelStopped CancelResult = "stopped"
	// CancelStoppedScheduled: the execution was scheduled (not due yet)
	// and is now stopped.
	CancelStoppedScheduled CancelResult = "stopped_scheduled"
	// CancelRequested: the execution is running; its worker was told.
	CancelRequested CancelResult = "requested"
	// CancelTerminal: the execution had already finished.
	CancelTerminal CancelResult = "terminal"
)

// Cancel stops a queued execution at once, or flags a running one and
// publishes its id so the worker running it cancels the job's context.
func (s *Store) Cancel(ctx context.Context, id string, now time.Time) (CancelResult, error) {
	keys := []string{s.k.meta(id), s.k.events(id), s.k.ixState(job.StateQueued),
		s.k.ixState(job.StateStopped), s.k.log(id), s.k.due()}
	res, err := s.runScript(ctx, cancelScript, keys, id, ms(now), s.evMax, s.k.cancelChannel(), s.k.done(id)).Text()
	if err != nil {
		return "", fmt.Errorf("store: cancel %s: %w", id, err)
	}
	switch res {
	case "missing":
		return "", notFound(id)
	case "queued":
		return CancelStopped, nil
	case "scheduled":
		return CancelStoppedScheduled, nil
	case "running":
		return CancelRequested, nil
	}
	return CancelTerminal, nil
}

// Running identifies one attempt a worker runs.
type Running struct {
	ID      string
	Attempt int
}

// Heartbeat refreshes the heartbeat of the attempts a worker runs, in one
// round trip, and returns the ids the worker must cancel locally: those
// whose cancel was requested (cancel) and those no longer running that
// attempt there (gone: taken over after a missed heartbeat, or deleted).
func (s *Store) Heartbeat(ctx context.Context, worker string, runs []Running, now time.Time) (cancel, gone []string, err error) {
	if len(runs) == 0 {
		return nil, nil, nil
	}
	keys := make([]string, 0, len(runs))
	argv := make([]any, 0, 2*len(runs)+2)
	argv = append(argv, ms(now), worker)
	for _, r := range runs {
		keys = append(keys, s.k.meta(r.ID))
		argv = append(argv, r.ID, strconv.Itoa(r.Attempt))
	}
	res, err := heartbeatScript.Run(ctx, s.rdb, keys, argv...).StringSlice()
	if err != nil {
		return nil, nil, fmt.Errorf("store: heartbeat: %w", err)
	}
	for _, r := range res {
		if id, ok := strings.CutPrefix(r, "c:"); ok {
			cancel = append(cancel, id)
		} else if id, ok := strings.CutPrefix(r, "g:"); ok {
			gone = append(gone, id)
		}
	}
	return cancel, gone, nil
}

// Stale returns up to limit running executions whose heartbeat (or start,
// before the first heartbeat) is older than before: candidates for Requeue
// with mode Lost. It reads the heartbeat of every running record, in pages
// of one round trip each: running executions are few next to all the
// others, and keeping no index by heartbeat saves every attempt two writes
// and every heartbeat one.
func (s *Store) Stale(ctx context.Context, before time.Time, limit int64) ([]string, error) {
	cut := before.UnixMilli()
	var out []string
	sets, err := s.stateSets(ctx, job.StateRunning)
	if err != nil {
		return nil, err
	}
	for _, set := range sets {
		if done, err := s.stale(ctx, set, cut, limit, &out); done || err != nil {
			return out, err
		}
	}
	return out, nil
}

// stale adds to out the stale executions of one running set (see Stale);
// done says limit was reached.
func (s *Store) stale(ctx context.Context, set string, cut, limit int64, out *[]string) (done bool, err error) {
	const page = 500
	for off := int64(0); ; off += page {
		ids, err := s.rdb.ZRange(ctx, set, off, off+page-1).Result()
		if err != nil || len(ids) == 0 {
			return false, err
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HMGet(ctx, s.k.meta(id), "heartbeat", "started_at")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return false, err
		}
		for i, c := range cmds {
			v := c.Val()
			hb, _ := v[0].(string)
			if hb == "" {
				hb, _ = v[1].(string)
			}
			if t, _ := strconv.ParseInt(hb, 10, 64); t < cut {
				*out = append(*out, ids[i])
				if int64(len(*out)) >= limit {
					return true, nil
				}
			}
		}
		if len(ids) < page {
			return false, nil
		}
	}
}

// QueuedBefore returns up to limit queued executions created before t,
// oldest first, skipping the first offset (the sweeper pages through them
// to make sure each has a task).
func (s *Store) QueuedBefore(ctx context.Context, t time.Time, offset, limit int64) ([]*job.Execution, error) {
	sets, err := s.stateSets(ctx, job.StateQueued)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(sets))
	for i, set := range sets {
		cmds[i] = pipe.ZRangeByScoreWithScores(ctx, set, &redis.ZRangeBy{Min: "-inf", Max: "(" + ms(t), Count: offset + limit})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var all []pos
	for _, c := range cmds {
		for _, z := range c.Val() {
			all = append(all, pos{int64(z.Score), z.Member.(string)})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[j].before(all[i]) }) // oldest first
	if int64(len(all)) <= offset {
		return nil, nil
	}
	all = all[offset:min(int64(len(all)), offset+limit)]
	return s.GetMany(ctx, ids(all))
}

// Progress records progress of a running attempt and emits a progress event.
func (s *Store) Progress(ctx context.Context, id string, attempt int, fraction float64, msg string) error {
	evt, _ := json.Marshal(map[string]any{"progress": fraction, "message": msg, "attempt": attempt})
	return reportScript.Run(ctx, s.rdb, s.reportKeys(id),
		attempt, s.evMax, "progress", evt, "",
		"progress", strconv.FormatFloat(fraction, 'g', -1, 64), "progress_msg", msg).Err()
}

// SetIncumbent stores the best solution so far of a running attempt and
// emits an incumbent event.
func (s *Store) SetIncumbent(ctx context.Context, id string, attempt int, sol json.RawMessage, objective *float64) error {
	evt := map[string]any{"attempt": attempt}
	argv := []any{attempt, s.evMax, "incumbent", nil, []byte(sol)}
	if objective != nil {
		evt["objective"] = *objective
		argv = append(argv, "objective", strconv.FormatFloat(*objective, 'g', -1, 64))
	}
	argv[3], _ = json.Marshal(evt)
	return reportScript.Run(ctx, s.rdb, s.reportKeys(id), argv...).Err()
}

// reportKeys are the keys of report.lua.
func (s *Store) reportKeys(id string) []string {
	return []string{s.k.meta(id), s.k.events(id), s.k.incumbent(id), s.k.log(id)}
}

// EnsureEvents creates an execution's event stream from its record when it
// does not exist yet. Short executions write no events while nobody
// follows them (their record is the whole history); readers call this
// before reading the stream so that they see that history as events with
// stable ids. It reports whether the execution exists.
func (s *Store) EnsureEvents(ctx context.Context, id string) (bool, error) {
	n, err := ensureScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.events(id), s.k.log(id)}, s.evMax).Int()
	if err != nil {
		return false, fmt.Errorf("store: events of %s: %w", id, err)
	}
	return n == 1, nil
}

// Delete removes a finished execution with its data, logs and index
// entries. Queued or running executions are refused with a conflict.
func (s *Store) Delete(ctx context.Context, id string) error {
	keys := []string{s.k.meta(id), s.k.input(id), s.k.solution(id), s.k.incumbent(id), s.k.log(id), s.k.events(id),
		s.k.ixState(job.StateSucceeded), s.k.cbLog(id), s.k.cbDue()}
	res, err := deleteScript.Run(ctx, s.rdb, keys, id).Text()
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	switch res {
	case "missing":
		return notFound(id)
	case "deleted":
		_ = s.rdb.Del(ctx, s.k.files(id)).Err()
		return nil
	}
	return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("execution %q is %s; stop it before deleting", id, res)}
}

// FinishedBefore returns up to limit ids of executions finished before t.
// An execution that finished before t was created before t, so it reads
// the terminal states' indexes (by creation time; one per state and job
// type) up to t, a page at a
// time, and keeps the records whose finish is earlier than t. No index by
// finish time is kept: that saves every finish a write. The executions it
// reads and skips are those created before t that finished after it: the
// ones that ran across t, few.
func (s *Store) FinishedBefore(ctx context.Context, t time.Time, limit int64) ([]string, error) {
	var out []string
	for _, st := range job.States {
		if !st.Terminal() {
			continue
		}
		ids, err := s.FinishedIn(ctx, st, t, limit-int64(len(out)))
		out = append(out, ids...)
		if err != nil || int64(len(out)) >= limit {
			return out, err
		}
	}
	return out, nil
}

// FinishedIn is FinishedBefore for the executions in one terminal state
// (retention keeps each state for its own period): it walks the state's
// sets, one per job type.
func (s *Store) FinishedIn(ctx context.Context, st job.State, t time.Time, limit int64) ([]string, error) {
	sets, err := s.stateSets(ctx, st)
	if err != nil {
		return nil, err
	}
	const page = 500
	cut := t.UnixMilli()
	var out []string
	for _, set := range sets {
		for off := int64(0); ; off += page {
			ids, err := s.rdb.ZRangeByScore(ctx, set, &redis.ZRangeBy{
				Min: "-inf", Max: "(" + ms(t), Offset: off, Count: page}).Result()
			if err != nil {
				return out, err
			}
			if len(ids) == 0 {
				break
			}
			pipe := s.rdb.Pipeline()
			cmds := make([]*redis.StringCmd, len(ids))
			for i, id := range ids {
				cmds[i] = pipe.HGet(ctx, s.k.meta(id), "finished_at")
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return out, err
			}
			for i, c := range cmds {
				if f, err := strconv.ParseInt(c.Val(), 10, 64); err == nil && f < cut {
					out = append(out, ids[i])
					if int64(len(out)) >= limit {
						return out, nil
					}
				}
			}
			if len(ids) < page {
				break
			}
		}
	}
	return out, nil
}

// CountByState returns how many executions are in each stored state.
func (s *Store) CountByState(ctx context.Context) (map[job.State]int64, error) {
	types, err := s.jobTypes(ctx)
	if err != nil {
		return nil, err
	}
	cmds := make(map[job.State][]*redis.IntCmd, len(job.States))
	err = s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		for _, st := range job.States {
			cmds[st] = make([]*redis.IntCmd, len(types))
			for i, t := range types {
				cmds[st][i] = pipe.ZCard(ctx, s.k.ixStateType(st, t))
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[job.State]int64, len(cmds))
	for st, cs := range cmds {
		out[st] = 0
		for _, c := range cs {
			out[st] += c.Val()
		}
	}
	return out, nil
}

// TryLock takes a short lease named name for owner (SET NX PX); it returns
// true when owner holds it. Used so that one sweeper runs at a time.
func (s *Store) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.lock(name), owner, ttl).Result()
	if err != nil || ok {
		return ok, err
	}
	cur, err := s.rdb.Get(ctx, s.k.lock(name)).Result()
	if err == nil && cur == owner {
		return true, s.rdb.PExpire(ctx, s.k.lock(name), ttl).Err()
	}
	return false, nil
}

// randHex returns n random bytes in hex.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
