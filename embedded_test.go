package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// listeningSockets returns the inodes of the listening TCP and unix
// sockets this process holds (Linux /proc).
func listeningSockets(t *testing.T) map[string]string {
	t.Helper()
	listening := map[string]string{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" { // TCP_LISTEN
				listening[fs[9]] = "tcp " + fs[1]
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/unix"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			// Flags 00010000 is __SO_ACCEPTCON: a listening socket.
			if len(fs) > 6 && fs[3] == "00010000" {
				path := ""
				if len(fs) > 7 {
					path = fs[7]
				}
				listening[fs[6]] = "unix " + path
			}
		}
	}
	mine := map[string]string{}
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			ino = strings.TrimSuffix(ino, "]")
			if what, ok := listening[ino]; ok {
				mine[ino] = what
			}
		}
	}
	return mine
}

// The embedded Redis opens no socket another process could reach (no TCP
// port, no unix socket): only this process talks to it. Go-redis and asynq
// both work over its in-process connections.
func TestEmbeddedRedisIsPrivate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before := listeningSockets(t)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: slog.New(slog.DiscardHandler), Concurrency: 2})
	require.NoError(t, err)
	defer svc.Close()
	require.True(t, svc.Embedded())
	after := listeningSockets(t)
	for ino, what := range after {
		_, old := before[ino]
		require.True(t, old, "the embedded Redis listens on %s: any local user could connect", what)
	}

	// go-redis (records, pub/sub for Wait) and asynq (queue, worker) work.
	require.NoError(t, svc.Register(job.Async("sq", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ X int }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		return map[string]int{"y": in.X * in.X}, nil
	})))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	workCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Work(workCtx) }()
	defer func() { stop(); <-done }()
	for i := range 20 {
		e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sq", Instance: json.RawMessage(fmt.Sprintf(`{"x":%d}`, i))})
		require.NoError(t, err)
		e, err = svc.Wait(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, job.StateSucceeded, e.State)
		sol, err := svc.Solution(ctx, e.ID)
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"y":%d}`, i*i), string(sol))
	}
	// a pipeline far larger than any socket or pipe buffer does not block
	big := strings.Repeat("x", 1<<20)
	pipe := solvekit.RedisOf(svc).Pipeline()
	for i := range 8 {
		pipe.Set(ctx, fmt.Sprintf("big:%d", i), big, time.Minute)
	}
	gets := make([]interface{ Val() string }, 8)
	for i := range 8 {
		gets[i] = pipe.Get(ctx, fmt.Sprintf("big:%d", i))
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	for _, g := range gets {
		require.Len(t, g.Val(), len(big))
	}
}

// Keys with a TTL expire on the embedded Redis, whichever way the TTL was
// set (SET PX, PEXPIRE, EXPIREAT with an absolute time, EXPIREAT inside a
// script as asynq's and solvekit's scripts do, a hash's TTL), and the
// sweeper lease solvekit takes with SET NX PX runs out so another owner
// can take it. Keys without a TTL, or with a long one, stay. The TTLs run
// down on a ticker (embedded.go); the test waits for the expiries with a
// generous bound rather than timing them.
func TestEmbeddedRedisExpiresKeys(t *testing.T) {
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer svc.Close()
	require.True(t, svc.Embedded())
	rdb := solvekit.RedisOf(svc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	require.NoError(t, rdb.Set(ctx, "px", "v", 300*time.Millisecond).Err())
	require.NoError(t, rdb.Set(ctx, "pexpire", "v", 0).Err())
	require.NoError(t, rdb.PExpire(ctx, "pexpire", 300*time.Millisecond).Err())
	require.NoError(t, rdb.Set(ctx, "expireat", "v", 0).Err())
	require.NoError(t, rdb.ExpireAt(ctx, "expireat", time.Now().Add(time.Second)).Err())
	require.NoError(t, rdb.HSet(ctx, "hash", "f", "v").Err())
	require.NoError(t, rdb.PExpire(ctx, "hash", 300*time.Millisecond).Err())
	require.NoError(t, rdb.Eval(ctx, `redis.call('INCR', KEYS[1]); return redis.call('EXPIREAT', KEYS[1], ARGV[1])`,
		[]string{"script"}, time.Now().Add(time.Second).Unix()).Err())
	require.NoError(t, rdb.Set(ctx, "long", "v", time.Hour).Err())
	require.NoError(t, rdb.Set(ctx, "forever", "v", 0).Err())

	ok, err := solvekit.StoreOf(svc).TryLock(ctx, "sweeper-test", "a", 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = solvekit.StoreOf(svc).TryLock(ctx, "sweeper-test", "b", 300*time.Millisecond)
	require.NoError(t, err)
	require.False(t, ok, "a lease held by another owner")

	expiring := []string{"px", "pexpire", "expireat", "hash", "script"}
	require.Eventually(t, func() bool {
		n, err := rdb.Exists(ctx, expiring...).Result()
		return err == nil && n == 0
	}, 30*time.Second, 20*time.Millisecond, "keys with a TTL did not expire")
	require.Eventually(t, func() bool {
		ok, err := solvekit.StoreOf(svc).TryLock(ctx, "sweeper-test", "b", time.Minute)
		return err == nil && ok
	}, 30*time.Second, 20*time.Millisecond, "the lease did not run out")

	n, err := rdb.Exists(ctx, "long", "forever").Result()
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "keys without a TTL, or with one not yet run out, stay")
	// The long TTL ran down meanwhile, as the clock moved.
	require.Eventually(t, func() bool {
		ttl, err := rdb.PTTL(ctx, "long").Result()
		return err == nil && ttl > 0 && ttl < time.Hour-500*time.Millisecond
	}, 30*time.Second, 20*time.Millisecond, "TTLs do not run down")
	ttl, err := rdb.PTTL(ctx, "forever").Result()
	require.NoError(t, err)
	require.Equal(t, time.Duration(-1), ttl)
}
