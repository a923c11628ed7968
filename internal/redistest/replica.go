package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replicated is a primary redis-server with replicas, for tests of
// replication (WAIT, durability). Every address is 127.0.0.1:port.
type Replicated struct {
	// Primary is the primary's address.
	Primary string
	// Replicas are the replicas' addresses.
	Replicas []string
}

// StartReplicated starts a primary redis-server on a free localhost port
// and n replicas of it (StartReplica), and waits until the primary counts
// n connected replicas. Everything is stopped when t ends. Without a
// redis-server binary it skips t (and fails it when
// SOLVEKIT_REQUIRE_REAL_REDIS is set): miniredis has no replication.
func StartReplicated(t testing.TB, n int) *Replicated {
	t.Helper()
	r := &Replicated{Primary: startTCP(t, "primary",
		// A replica's first sync starts at once instead of after 5s.
		"--repl-diskless-sync-delay", "0")}
	for range n {
		r.Replicas = append(r.Replicas, StartReplica(t, r.Primary))
	}
	c := redis.NewClient(&redis.Options{Addr: r.Primary})
	defer c.Close()
	waitUntil(t, startWithin, fmt.Sprintf("the primary counts %d connected replicas", n), func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && infoField(info, "connected_slaves") == fmt.Sprint(n)
	})
	return r
}

// StartReplica starts a redis-server on a free localhost port replicating
// the server at primary (host:port; replication needs TCP), and waits
// until its link to the primary is up (INFO replication). It is stopped
// when t ends; it skips t like StartReplicated.
func StartReplica(t testing.TB, primary string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatalf("redistest: replica of %q: %v", primary, err)
	}
	// A replica that becomes the primary (a failover) serves the other
	// replicas' first sync at once too.
	args := []string{"--replicaof", host, port, "--repl-diskless-sync-delay", "0"}
	if debugSwitch() {
		args = append(args, "--enable-debug-command", "local") // for Pause
	}
	addr := startTCP(t, "replica", args...)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	waitUntil(t, startWithin, "the replica's link to its primary is up", func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && infoField(info, "master_link_status") == "up"
	})
	return addr
}

// Pause makes the server at addr (a replica of StartReplicated, or of
// StartReplica) sleep for d with DEBUG SLEEP, sent on a connection of its
// own: it answers nothing, and acknowledges no replication, until then.
// It returns once the server is asleep (it no longer answers a PING).
func Pause(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: -1})
	t.Cleanup(func() { c.Close() })
	slept := make(chan error, 1)
	go func() { slept <- c.Do(context.Background(), "debug", "sleep", fmt.Sprintf("%.3f", d.Seconds())).Err() }()
	probe := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
	defer probe.Close()
	waitUntil(t, startWithin, "the server sleeps", func() bool {
		select {
		case err := <-slept:
			t.Fatalf("redistest: DEBUG SLEEP on %s: %v", addr, err)
		default:
		}
		return probe.Ping(context.Background()).Err() != nil
	})
}

// debugSwitch reports whether redis-server has the enable-debug-command
// setting (7.0 and later, where DEBUG is refused by default).
func debugSwitch() bool {
	bin, err := serverBinary()
	if err != nil || bin == "" {
		return false
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			major, _, _ := strings.Cut(v, ".")
			n, _ := strconv.Atoi(major)
			return n >= 7
		}
	}
	return false
}

// startTCP starts a redis-server with args on a free localhost port, its
// files in a directory of its own under t's temp dir, and waits until it
// answers. It is stopped when t ends.
func startTCP(t testing.TB, name string, args ...string) string {
	t.Helper()
	bin := needBinary(t, "replication needs real servers")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd, err := spawn(bin, dir, append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1"}, args...)...)
	if err != nil {
		t.Fatalf("redistest: start %s: %v", name, err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	procs.Store(addr, cmd)
	t.Cleanup(func() {
		procs.Delete(addr)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if _, err := waitReady("tcp", addr, startWithin); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		t.Fatalf("redistest: %s %s did not answer within %s: %v\n%s", name, addr, startWithin, err, log)
	}
	return addr
}

// procs maps the address of each server startTCP started (and that is
// still running) to its process, for Kill and Freeze.
var procs sync.Map

func proc(t testing.TB, addr string) *exec.Cmd {
	t.Helper()
	cmd, ok := procs.Load(addr)
	if !ok {
		t.Fatalf("redistest: no server of this test at %s", addr)
	}
	return cmd.(*exec.Cmd)
}

// Kill stops the server at addr (one of StartReplicated, StartReplica or
// StartSentinel) with SIGKILL, as a crash would: it writes nothing more,
// and what it had not sent to its replicas is gone. It returns once the
// process has exited.
func Kill(t testing.TB, addr string) {
	t.Helper()
	cmd := proc(t, addr)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Freeze stops the server at addr (as Kill's) with SIGSTOP: it answers
// nothing and acknowledges no replication until the returned thaw
// (SIGCONT) runs, for as long as the test needs, unlike Pause's fixed
// sleep. Its kernel still receives what is sent to it, and it reads that
// when thawed. thaw runs when t ends too.
func Freeze(t testing.TB, addr string) (thaw func()) {
	t.Helper()
	cmd := proc(t, addr)
	if err := signalStop(cmd.Process, true); err != nil {
		t.Fatalf("redistest: SIGSTOP %s: %v", addr, err)
	}
	var once sync.Once
	thaw = func() { once.Do(func() { _ = signalStop(cmd.Process, false) }) }
	t.Cleanup(thaw)
	return thaw
}

// needBinary returns the redis-server binary, skipping t (why says why it
// needs one) when there is none, and failing it when none is an error
// (SOLVEKIT_REQUIRE_REAL_REDIS).
func needBinary(t testing.TB, why string) string {
	t.Helper()
	bin, err := serverBinary()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	if bin == "" {
		t.Skip("redistest: no redis-server binary; " + why)
	}
	return bin
}
