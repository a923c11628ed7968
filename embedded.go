package solvekit

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// embeddedRedis is the in-memory Redis used when no Redis is configured:
// a miniredis, and the ticker that moves its TTLs along with the clock.
type embeddedRedis struct {
	m       *miniredis.Miniredis
	scripts *embeddedScripts
	stop    chan struct{}
	done    chan struct{}
}

// startEmbedded starts the in-memory Redis used when no Redis is
// configured. It listens on nothing: no TCP port, no unix socket. Every
// connection is made inside this process by the client's dialer, so no
// other process (and no other local user) can reach it, and no password
// is needed.
//
// Its TTLs run down with a ticker (see expireLoop), not with miniredis'
// ClockTTL: ClockTTL walks and sorts every key on every command, so each
// command cost more the more keys were stored. Its Lua scripts run on one
// interpreter built once (see embeddedScripts), not on a new one per call.
func startEmbedded() (*embeddedRedis, *redis.Client) {
	m := miniredis.NewMiniRedis()
	// Dial starts miniredis without a listener; the pre-hook needs its
	// server. This first connection is not used.
	if c, err := m.Dial(); err == nil {
		_ = c.Close()
	}
	e := &embeddedRedis{m: m, stop: make(chan struct{}), done: make(chan struct{})}
	if srv := m.Server(); srv != nil {
		e.scripts = newEmbeddedScripts(m, srv)
	}
	go e.expireLoop()
	rdb := redis.NewClient(&redis.Options{
		Addr:     "embedded", // never dialled: Dialer below
		PoolSize: 64,
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return dialEmbedded(e.m)
		},
	})
	return e, rdb
}

// Expiry forwards (a walk over all keys) come no more often than every
// embeddedTickMin, and no sooner than embeddedTickWork times as long as the
// last one took after it, so that they take at most about 2% of the time.
// Between them, they come when a TTL is due or a TTL is read, and at least
// every embeddedTickMax.
const (
	embeddedTickMin  = 100 * time.Millisecond
	embeddedTickMax  = 10 * time.Second
	embeddedTickWork = 50
)

// nextEmbeddedTick is the least wait before the next expiry forward, given
// how long the last one took.
func nextEmbeddedTick(took time.Duration) time.Duration {
	return min(max(embeddedTickMin, embeddedTickWork*took), embeddedTickMax)
}

// expireLoop runs the TTLs of e's keys down with the clock, expiring
// those that ran out. It wakes every embeddedTickMin; a wake-up costs
// nothing unless a forward is due (see embedded_expiry.go). A forward
// walks the keys once; commands between forwards cost nothing for expiry.
// A key outlives its TTL by at most the wait between two forwards (100 ms
// while the keys are few, growing with the key count up to
// embeddedTickMax), and never expires early (see restoreTTLs). TIME and
// EXPIREAT use the real clock throughout.
func (e *embeddedRedis) expireLoop() {
	defer close(e.done)
	last, took := time.Now(), time.Duration(0)
	ticker := time.NewTicker(embeddedTickMin)
	defer ticker.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-ticker.C:
		}
		now := time.Now()
		if e.scripts != nil {
			e.scripts.tick(now)
			continue
		}
		if now.Sub(last) >= nextEmbeddedTick(took) {
			e.m.FastForward(now.Sub(last))
			last, took = now, time.Since(now)
		}
	}
}

// Close stops the expiry ticker and the in-memory Redis.
func (e *embeddedRedis) Close() {
	close(e.stop)
	<-e.done
	e.m.Close()
}

// maxEmbeddedReplyBacklog bounds the replies a connection may hold unread
// (Redis' client-output-buffer-limit plays this role); past it the
// connection is closed.
const maxEmbeddedReplyBacklog = 256 << 20

// dialEmbedded opens an in-process connection to m. miniredis' own Dial is
// a net.Pipe, which has no buffer: a client writing a long pipeline while
// miniredis writes the first replies would block both forever. Here the
// replies are read as they come and held until the client reads them, as
// a socket's buffer would.
func dialEmbedded(m *miniredis.Miniredis) (net.Conn, error) {
	srv, err := m.Dial()
	if err != nil {
		return nil, err
	}
	cli, near := net.Pipe()
	go func() { // requests: client → miniredis
		_, _ = io.Copy(srv, near)
		_ = srv.Close()
	}()
	go relayReplies(near, srv)
	return cli, nil
}

// relayReplies copies src to dst, reading src without waiting for dst.
func relayReplies(dst, src net.Conn) {
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		pending []byte
		ended   bool
	)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			mu.Lock()
			pending = append(pending, buf[:n]...)
			over := len(pending) > maxEmbeddedReplyBacklog
			if over {
				pending = nil
			}
			if err != nil || over {
				ended = true
			}
			cond.Signal()
			mu.Unlock()
			if err != nil || over {
				if over {
					_ = src.Close()
				}
				return
			}
		}
	}()
	for {
		mu.Lock()
		for len(pending) == 0 && !ended {
			cond.Wait()
		}
		out, done := pending, ended && len(pending) == 0
		pending = nil
		mu.Unlock()
		if done {
			_ = dst.Close()
			return
		}
		if _, err := dst.Write(out); err != nil {
			_ = dst.Close()
			_ = src.Close() // ends the reader
			return
		}
	}
}
