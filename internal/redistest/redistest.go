// Package redistest starts a private Redis for tests: a real redis-server
// (its own temp dir and unix socket, nothing on disk, stopped afterwards)
// when the binary exists, and the embedded miniredis otherwise. Every test
// gets a fresh logical database on it, so tests never see each other's keys
// (asynq's included) and nothing needs flushing.
//
// Set SOLVEKIT_REQUIRE_REAL_REDIS=1 to make a missing redis-server a hard
// failure (CI does), and SOLVEKIT_REDIS_REPORT=<file> to have every test
// package append which server it used, so CI can prove the real one ran.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is a private Redis for one test binary.
type Server struct {
	// Kind is "redis-server" or "miniredis".
	Kind string
	// Version is the redis-server version, or "" for miniredis.
	Version string

	network, addr string
	cmd           *exec.Cmd
	dir           string
	mini          *miniredis.Miniredis
	nextDB        atomic.Int64
}

var (
	mu      sync.Mutex
	current *Server
)

// databases is how many logical databases the private server offers: one
// per test, so a package can run this many tests that call Client.
const databases = 2048

// Main starts the server, runs the package's tests and stops it. Call it
// from TestMain: os.Exit(redistest.Main(m)).
func Main(m *testing.M) int {
	srv, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redistest:", err)
		return 1
	}
	mu.Lock()
	current = srv
	mu.Unlock()
	report(srv)
	code := m.Run()
	srv.Stop()
	return code
}

func report(srv *Server) {
	path := os.Getenv("SOLVEKIT_REDIS_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	exe, _ := os.Executable()
	fmt.Fprintf(f, "%s %s %s\n", filepath.Base(exe), srv.Kind, srv.Version)
}

// Start starts a private server: redis-server if it is on PATH, else
// miniredis (an error instead when SOLVEKIT_REQUIRE_REAL_REDIS is set).
func Start() (*Server, error) {
	bin, err := serverBinary()
	if err != nil {
		return nil, err
	}
	if bin == "" {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.Start(); err != nil {
			return nil, err
		}
		return &Server{Kind: "miniredis", network: "tcp", addr: m.Addr(), mini: m}, nil
	}
	dir, err := os.MkdirTemp("", "skredis")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd, err := spawn(bin, dir, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--databases", fmt.Sprint(databases))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	srv := &Server{Kind: "redis-server", network: "unix", addr: sock, cmd: cmd, dir: dir}
	version, err := waitReady("unix", sock, startWithin)
	if err != nil {
		srv.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		return nil, fmt.Errorf("redis-server did not answer within %s: %v\n%s", startWithin, err, log)
	}
	srv.Version = version
	return srv, nil
}

// serverBinary returns the redis-server on PATH, or "" when there is
// none; a missing one is an error when SOLVEKIT_REQUIRE_REAL_REDIS is set.
func serverBinary() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin, nil
	}
	if os.Getenv("SOLVEKIT_REQUIRE_REAL_REDIS") != "" {
		return "", errors.New("redis-server not found and SOLVEKIT_REQUIRE_REAL_REDIS is set")
	}
	return "", nil
}

// spawn starts redis-server bin with args and the settings every private
// server shares: its files in dir, nothing saved, warnings only. Its
// output goes to its log file, not to ours: a server holding the test
// binary's stdout open would hang whoever reads it (go test's fuzzing
// coordinator waits for a killed worker's output to close). It dies with
// the test process (dieWithParent), so a killed test leaves no server
// behind.
func spawn(bin, dir string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, append(args, "--dir", dir, "--save", "", "--appendonly", "no",
		"--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log"))...)
	dieWithParent(cmd)
	return cmd, cmd.Start()
}

// Spawn starts one more redis-server for t alone, beside the shared one:
// listening only on the unix socket dir/name, its files in dir (a data
// set one saves there is what the next one spawned on dir loads), with
// args added to its settings. It returns the socket's path and a kill
// that stops the server at once; kill runs when t ends too. It fails t
// when there is no redis-server binary.
func Spawn(t testing.TB, dir, name string, args ...string) (sock string, kill func()) {
	t.Helper()
	bin, err := serverBinary()
	if err == nil && bin == "" {
		err = errors.New("no redis-server binary")
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	sock = filepath.Join(dir, name)
	cmd, err := spawn(bin, dir, append([]string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700"}, args...)...)
	if err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	var once sync.Once
	kill = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(kill)
	return sock, kill
}

// startWithin bounds the wait for a starting redis-server: generous, for
// a loaded machine; only a server that never comes up takes this long.
const startWithin = time.Minute

// waitReady waits until a starting server at network/addr answers INFO
// and returns its version. It waits for a plain connection first: a
// go-redis client that cannot dial prints "failed to dial" to stderr,
// which was noise at the start of every test package on a loaded machine.
func waitReady(network, addr string, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout(network, addr, time.Second)
		if err != nil {
			if time.Now().After(deadline) {
				return "", err
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		conn.Close()
		c := redis.NewClient(&redis.Options{Network: network, Addr: addr})
		info, err := c.Info(bgctx, "server").Result()
		c.Close()
		if err == nil {
			return infoField(info, "redis_version"), nil
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func infoField(info, key string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	if s.mini != nil {
		s.mini.Close()
		return
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// URL returns a redis URL for logical database db, usable by other
// processes (crash tests start workers with it).
func (s *Server) URL(db int) string {
	if s.network == "unix" {
		return fmt.Sprintf("unix://%s?db=%d", s.addr, db)
	}
	return fmt.Sprintf("redis://%s/%d", s.addr, db)
}

// Options returns go-redis options for logical database db.
func (s *Server) Options(db int) *redis.Options {
	return &redis.Options{Network: s.network, Addr: s.addr, DB: db, PoolSize: 64}
}

// Current returns the server started by Main, failing t if there is none.
func Current(t testing.TB) *Server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if current == nil {
		t.Fatal("redistest: no server; call redistest.Main from TestMain")
	}
	return current
}

// DB reserves a fresh logical database for t and returns its number.
func (s *Server) DB(t testing.TB) int {
	n := int(s.nextDB.Add(1))
	if n >= databases {
		t.Fatalf("redistest: more than %d databases requested", databases-1)
	}
	return n
}

// Client returns a client on a fresh, empty logical database of the
// package's private server, closed when t ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	srv := Current(t)
	c := redis.NewClient(srv.Options(srv.DB(t)))
	t.Cleanup(func() { c.Close() })
	return c
}

// Stoppable starts a redis-server of the test's own, which the test may
// stop to see an outage, and returns a client on its database 1 with
// poolSize connections that dials once per attempt (so a stopped server
// costs few failed dials and log lines), and the stop function. It skips
// the test where only miniredis is available. The server is stopped when
// the test ends, if the test did not stop it.
func Stoppable(t testing.TB, poolSize int) (rdb *redis.Client, stop func()) {
	t.Helper()
	if Current(t).Kind == "miniredis" {
		t.Skip("needs redis-server")
	}
	srv, err := Start()
	if err != nil {
		t.Fatalf("redistest: start a stoppable redis-server: %v", err)
	}
	var once sync.Once
	stop = func() { once.Do(srv.Stop) }
	t.Cleanup(stop)
	opts := srv.Options(1)
	opts.PoolSize, opts.DialerRetries = poolSize, 1
	rdb = redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb, stop
}
