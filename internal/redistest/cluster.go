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
