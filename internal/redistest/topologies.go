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

// Sentinel is a primary redis-server with replicas, watched by Redis
// Sentinels that promote a replica when the primary dies: the setup of
// tests that kill a primary under a go-redis failover client. Every
// address is 127.0.0.1:port (Sentinel and replication need TCP).
type Sentinel struct {
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string
	// Addrs are the sentinels' addresses.
	Addrs []string
	// Servers are the data servers' addresses, the first primary first.
	Servers []string
}

// Sentinel's timings, fast for tests: a primary that answers no PING for
// sentinelDownAfter is down; a failover that has not completed within
// sentinelFailoverTimeout is given up (and tried again after twice that).
const (
	sentinelDownAfter       = time.Second
	sentinelFailoverTimeout = 3 * time.Second
)

// StartSentinel starts a primary and replicas replicas (StartReplicated)
// and sentinels Redis Sentinels (redis-server --sentinel, each with a
// config file in its own directory under t's temp dir, on a free
// localhost port) monitoring it with a quorum of a majority, and waits
// until every sentinel knows every replica and every other sentinel, so
// that a failover can be voted. Everything is stopped when t ends.
// Without a redis-server binary it skips t (and fails it when
// SOLVEKIT_REQUIRE_REAL_REDIS is set), as StartReplicated.
func StartSentinel(t testing.TB, replicas, sentinels int) *Sentinel {
	t.Helper()
	bin := needBinary(t, "Sentinel needs real servers")
	r := StartReplicated(t, replicas)
	s := &Sentinel{MasterName: "solvekit", Servers: append([]string{r.Primary}, r.Replicas...)}
	host, port, _ := net.SplitHostPort(r.Primary)
	quorum := sentinels/2 + 1
	for i := range sentinels {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sport := l.Addr().(*net.TCPAddr).Port
		l.Close()
		dir := filepath.Join(t.TempDir(), fmt.Sprint("sentinel", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// Sentinel rewrites its config file (what it learns), so it
		// needs one of its own, writable.
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\n"+
			"sentinel monitor %s %s %s %d\n"+
			"sentinel down-after-milliseconds %[2]s %[6]d\n"+
			"sentinel failover-timeout %[2]s %[7]d\n"+
			"sentinel parallel-syncs %[2]s %[8]d\n",
			sport, s.MasterName, host, port, quorum,
			sentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds(), replicas)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, err := spawn(bin, dir, conf, "--sentinel")
		if err != nil {
			t.Fatalf("redistest: start sentinel: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		addr := fmt.Sprintf("127.0.0.1:%d", sport)
		if err := waitSentinel(addr, startWithin); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redistest: sentinel %s did not answer within %s: %v\n%s", addr, startWithin, err, log)
		}
		s.Addrs = append(s.Addrs, addr)
	}
	for _, addr := range s.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr})
		waitUntil(t, startWithin, fmt.Sprintf("sentinel %s knows %d replicas and %d other sentinels", addr, replicas, sentinels-1), func() bool {
			m, err := c.Master(context.Background(), s.MasterName).Result()
			return err == nil && m["num-slaves"] == fmt.Sprint(replicas) &&
				m["num-other-sentinels"] == fmt.Sprint(sentinels-1) && !strings.Contains(m["flags"], "down")
		})
		c.Close()
	}
	return s
}

// waitSentinel waits until the sentinel at addr answers a PING.
func waitSentinel(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			c := redis.NewSentinelClient(&redis.Options{Addr: addr})
			err = c.Ping(context.Background()).Err()
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FailoverOptions returns go-redis options for a failover client (through
// the sentinels, to whichever server is the primary).
func (s *Sentinel) FailoverOptions() *redis.FailoverOptions {
	return &redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs}
}

// Primary returns the address the first sentinel that answers names as
// the primary's.
func (s *Sentinel) Primary(t testing.TB) string {
	t.Helper()
	var last error
	for _, addr := range s.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr})
		a, err := c.GetMasterAddrByName(context.Background(), s.MasterName).Result()
		c.Close()
		if err == nil && len(a) == 2 {
			return net.JoinHostPort(a[0], a[1])
		}
		last = err
	}
	t.Fatalf("redistest: no sentinel names a primary: %v", last)
	return ""
}

// KillPrimary kills the current primary (Primary) with SIGKILL and
// returns its address.
func (s *Sentinel) KillPrimary(t testing.TB) string {
	t.Helper()
	addr := s.Primary(t)
	Kill(t, addr)
	return addr
}

// AwaitFailover waits, up to within, until every sentinel names a primary
// other than old, and that server says it is a primary and lists at
// least replicas online replicas (the ones left, reconfigured by the
// sentinels). It returns the new primary's address.
func (s *Sentinel) AwaitFailover(t testing.TB, old string, replicas int, within time.Duration) string {
	t.Helper()
	var primary string
	waitUntil(t, within, fmt.Sprintf("the sentinels promote a replica of %s with %d replicas of its own", old, replicas), func() bool {
		primary = ""
		for _, addr := range s.Addrs {
			c := redis.NewSentinelClient(&redis.Options{Addr: addr})
			a, err := c.GetMasterAddrByName(context.Background(), s.MasterName).Result()
			c.Close()
			if err != nil || len(a) != 2 {
				return false
			}
			p := net.JoinHostPort(a[0], a[1])
			if p == old || (primary != "" && p != primary) {
				return false
			}
			primary = p
		}
		c := redis.NewClient(&redis.Options{Addr: primary, MaxRetries: -1})
		defer c.Close()
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && infoField(info, "role") == "master" && onlineReplicas(info) >= replicas
	})
	return primary
}

// onlineReplicas counts the replicas an INFO replication reply lists as
// online (synced, so that they acknowledge WAIT).
func onlineReplicas(info string) int {
	n := 0
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n
}

// Cluster is a private Redis Cluster of real redis-server nodes on
// localhost, for the tests that run solvekit on a cluster client.
type Cluster struct {
	// Addrs are the nodes' host:port addresses.
	Addrs []string
}

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// StartCluster starts n master nodes (no replicas), each on a free
// localhost port with its own directory under t's temp dir and nothing
// saved to disk, spreads the hash slots over them and waits until the
// cluster is up. The nodes are stopped when t ends. Without a redis-server
// binary it skips t (and fails it when SOLVEKIT_REQUIRE_REAL_REDIS is set):
// miniredis has no cluster mode.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := needBinary(t, "a cluster needs real nodes")
	c := &Cluster{}
	ports := make([]int, n)
	for i := range ports {
		ports[i] = clusterPort(t, ports[:i])
		dir := filepath.Join(t.TempDir(), fmt.Sprint("node", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd, err := spawn(bin, dir, "--port", fmt.Sprint(ports[i]), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"))
		if err != nil {
			t.Fatalf("redistest: start cluster node: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		c.Addrs = append(c.Addrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	ctx := context.Background()
	nodes := make([]*redis.Client, n)
	for i, addr := range c.Addrs {
		// A plain connection first, so that go-redis prints no dial errors.
		if _, err := waitReady("tcp", addr, startWithin); err != nil {
			t.Fatalf("redistest: cluster node %s did not answer within %s: %v", addr, startWithin, err)
		}
		nodes[i] = redis.NewClient(&redis.Options{Addr: addr})
		defer nodes[i].Close()
	}
	for i, node := range nodes {
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n-1
		if err := node.Do(ctx, "cluster", "addslotsrange", lo, hi).Err(); err != nil {
			t.Fatalf("redistest: cluster addslotsrange on %s: %v", c.Addrs[i], err)
		}
		if i > 0 {
			if err := nodes[0].ClusterMeet(ctx, "127.0.0.1", fmt.Sprint(ports[i])).Err(); err != nil {
				t.Fatalf("redistest: cluster meet %s: %v", c.Addrs[i], err)
			}
		}
	}
	waitUntil(t, startWithin, "the cluster is up", func() bool {
		for _, node := range nodes {
			info, err := node.ClusterInfo(ctx).Result()
			if err != nil || infoField(info, "cluster_state") != "ok" ||
				infoField(info, "cluster_known_nodes") != fmt.Sprint(n) {
				return false
			}
		}
		return true
	})
	return c
}

// clusterPort returns a free localhost port whose cluster bus port (port
// + 10000) is free too and that is not in taken.
func clusterPort(t testing.TB, taken []int) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 || containsPort(taken, port) {
			continue
		}
		bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("redistest: no free port pair for a cluster node")
	return 0
}

func containsPort(ports []int, p int) bool {
	for _, q := range ports {
		if q == p || q+10000 == p || p+10000 == q {
			return true
		}
	}
	return false
}

func waitUntil(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: timed out waiting until %s", strings.TrimSpace(what))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
