package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

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
