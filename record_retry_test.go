package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/job"
)

// errInjected is the network failure faultHook reports: what a reset
// connection gives.
var errInjected = &net.OpError{Op: "read", Net: "unix", Err: syscall.ECONNRESET}

// fault makes the sends of one script fail: drop sends fail before they
// reach Redis (Redis is unreachable), lose sends run on Redis but their
// reply is lost (the connection breaks after the write). match picks the
// script by its keys and arguments.
type fault struct {
	match      func(keys []string, argv []any) bool
	drop, lose int
	// always drops every matching send (drop and lose are then unused).
	always bool
	sent   int
}

// faultHook is a go-redis hook injecting network failures into the sends
// of the scripts its faults match; the real Redis runs everything else
// (and the sends a lose fault lets through).
type faultHook struct {
	mu     sync.Mutex
	faults []*fault
}

func scriptCall(cmd redis.Cmder) (keys []string, argv []any, ok bool) {
	args := cmd.Args()
	if len(args) < 3 {
		return nil, nil, false
	}
	if name := strings.ToLower(fmt.Sprint(args[0])); name != "evalsha" && name != "eval" {
		return nil, nil, false
	}
	n, err := strconv.Atoi(fmt.Sprint(args[2]))
	if err != nil || len(args) < 3+n {
		return nil, nil, false
	}
	for _, k := range args[3 : 3+n] {
		keys = append(keys, fmt.Sprint(k))
	}
	return keys, args[3+n:], true
}

// decide returns "drop", "lose" or "" for one command.
func (h *faultHook) decide(cmd redis.Cmder) string {
	keys, argv, ok := scriptCall(cmd)
	if !ok {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.faults {
		if !f.match(keys, argv) {
			continue
		}
		f.sent++
		switch {
		case f.always:
			return "drop"
		case f.drop > 0:
			f.drop--
			return "drop"
		case f.lose > 0:
			f.lose--
			return "lose"
		}
	}
	return ""
}

func (h *faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch h.decide(cmd) {
		case "drop":
			cmd.SetErr(errInjected)
			return errInjected
		case "lose":
			_ = next(ctx, cmd)
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

func (h *faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var drop, lose bool
		for _, c := range cmds {
			switch h.decide(c) {
			case "drop":
				drop = true
			case "lose":
				lose = true
			}
		}
		if !drop {
			err := next(ctx, cmds)
			if !lose {
				return err
			}
		}
		for _, c := range cmds {
			c.SetErr(errInjected)
		}
		return errInjected
	}
}

func (h *faultHook) sends(f *fault) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f.sent
}

// pending is how many of f's planned drops and losses have not happened.
func (h *faultHook) pending(f *fault) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f.drop + f.lose
}

// isFinish and isStart recognise the store's finish and start scripts by
// their keys; attempt picks one attempt's finish.
func isFinish(keys []string, _ []any) bool {
	return len(keys) >= 7 && strings.HasSuffix(keys[1], ":sol") && strings.HasSuffix(keys[4], ":ix:st:running")
}

func isStart(keys []string, _ []any) bool {
	return len(keys) == 5 && strings.HasSuffix(keys[1], ":in")
}

func finishOfAttempt(n int) func([]string, []any) bool {
	return func(keys []string, argv []any) bool {
		return isFinish(keys, argv) && len(argv) > 1 && fmt.Sprint(argv[1]) == strconv.Itoa(n)
	}
}

// recordEnv runs one counted job on a service whose Redis client carries
// the given faults, with a sweeper quick to requeue a silent attempt (so
// that an attempt left behind shows up as a "lost" event and a second run
// within the test).
type recordEnv struct {
	b    *bundle
	hook *faultHook
	logs *logtest.Buffer
	mu   sync.Mutex
	runs map[string]int
}

func newRecordEnv(t *testing.T, faults ...*fault) *recordEnv {
	r := &recordEnv{hook: &faultHook{faults: faults}, logs: &logtest.Buffer{}, runs: map[string]int{}}
	def := job.Async("counted", func(ctx context.Context, jc *job.Context) (any, error) {
		r.mu.Lock()
		r.runs[jc.ExecutionID]++
		r.mu.Unlock()
		return map[string]int{"attempt": jc.Attempt}, nil
	})
	r.b = setup(t, setupOpts{defs: []*job.Definition{def}, hook: r.hook, cfg: solvekit.Config{
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second, SweepInterval: 100 * time.Millisecond,
		RetryDelay: func(int) time.Duration { return 10 * time.Millisecond },
		Logger:     r.logs.Logger(slog.LevelInfo)}})
	return r
}

// run submits one execution and waits for its end.
func (r *recordEnv) run(t *testing.T) *job.Execution {
	t.Helper()
	ctx := context.Background()
	e, err := r.b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "counted", Instance: json.RawMessage(`{}`)})
	require.NoError(t, err)
	return waitFor(t, r.b, e.ID, 30*time.Second)
}

func (r *recordEnv) runsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// statuses lists the states of an execution's status events.
func statuses(t *testing.T, b *bundle, id string) []string {
	t.Helper()
	evs, err := solvekit.StoreOf(b.svc).Events(context.Background(), id, "", 1000)
	require.NoError(t, err)
	var out []string
	for _, ev := range evs {
		if ev.Type != "status" {
			continue
		}
		var d struct{ State string }
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		out = append(out, d.State)
	}
	return out
}

// requireQueueClean checks that asynq sees nothing left or failed for the
// default queue: no active, pending, retry or archived task, and no
// failure counted.
func requireQueueClean(t *testing.T, b *bundle) {
	t.Helper()
	in := solvekit.InspectorOf(b.svc)
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo("default")
		require.NoError(t, err)
		return info.Active == 0 && info.Pending == 0
	}, 10*time.Second, 10*time.Millisecond, "asynq still holds tasks")
	info, err := in.GetQueueInfo("default")
	require.NoError(t, err)
	require.Zero(t, info.Retry, "tasks waiting for an asynq retry")
	require.Zero(t, info.Archived, "tasks archived by asynq")
	require.Zero(t, info.Failed, "failures counted by asynq")
}

// TestRecordWritesRetried: the worker's Start or Finish of an attempt
// meets Redis failures, and the attempt still runs once and succeeds at
// attempt 1, never declared lost, with asynq counting no failure, retry
// or archived task:
//   - FinishRetriedWhileRedisFails: the finish of a job that did its
//     work cannot reach Redis three times in a row; the worker retries
//     it while the attempt keeps its heartbeat. (Each Finish call is sent
//     twice, its pipeline's connection then the pool: six drops fail
//     three calls.)
//   - FinishReplyLost: the finish runs on Redis but its reply is lost;
//     the store sends it again and finds it done (or, when the machine is
//     so slow that its short resend window has passed, the worker reads
//     the record and finds its end there). Its asynq task was
//     completed by the first send: asynq must not be told to complete it
//     a second time (its Done would fail with NOT FOUND and be retried,
//     with warnings).
//   - StartReplyLost: the Start runs on Redis but its reply is lost; the
//     second send must start the attempt (it is this worker's own), not
//     leave the record running with no job until the sweeper declares it
//     lost.
//   - StartRetriedWhileRedisFails: the Start cannot reach Redis twice in
//     a row; the worker retries it itself.
func TestRecordWritesRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fault
		minSends int
		// notLogged is a log line that must not appear.
		notLogged string
	}{
		{"FinishRetriedWhileRedisFails", fault{match: isFinish, drop: 6}, 7, ""},
		{"FinishReplyLost", fault{match: isFinish, lose: 1}, 1, "Could not remove task"},
		{"StartReplyLost", fault{match: isStart, lose: 1}, 2, ""},
		{"StartRetriedWhileRedisFails", fault{match: isStart, drop: 4}, 5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &tc.fault
			r := newRecordEnv(t, f)
			e := r.run(t)
			require.Equal(t, job.StateSucceeded, e.State)
			require.Equal(t, 1, e.Attempt, "the attempt was run again or requeued")
			require.Equal(t, 1, r.runsOf(e.ID))
			require.Equal(t, []string{"queued", "running", "succeeded"}, statuses(t, r.b, e.ID))
			require.GreaterOrEqual(t, r.hook.sends(f), tc.minSends)
			require.Zero(t, r.hook.pending(f), "a planned fault never happened")
			requireQueueClean(t, r.b)
			if tc.notLogged != "" {
				// Give a wrongly sent Done time to fail and be logged.
				time.Sleep(200 * time.Millisecond)
				require.NotContains(t, r.logs.String(), tc.notLogged)
			}
		})
	}
}

// TestFinishGivesUpThenRequeues: attempt 1's finish never reaches Redis.
// Past the retry bound the worker requeues the execution itself (not the
// sweeper, which would record a lost attempt), and attempt 2 succeeds.
func TestFinishGivesUpThenRequeues(t *testing.T) {
	solvekit.SetRecordRetry(t, 10*time.Millisecond, 50*time.Millisecond, 300*time.Millisecond)
	f := &fault{match: finishOfAttempt(1), always: true}
	r := newRecordEnv(t, f)
	e := r.run(t)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, 2, e.Attempt)
	require.Equal(t, 1, e.Retries)
	require.Equal(t, 2, r.runsOf(e.ID))
	require.Equal(t, []string{"queued", "running", "queued", "running", "succeeded"}, statuses(t, r.b, e.ID))
	require.Contains(t, r.logs.String(), "could not record the end of an attempt")
}
