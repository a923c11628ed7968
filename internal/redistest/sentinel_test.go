package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelFailover: a failover client through StartSentinel's
// sentinels writes to the primary; after KillPrimary the sentinels promote
// a replica that has the write, with the other replica reconfigured under
// it, and the same client writes there.
func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t, 2, 3)
	c := redis.NewFailoverClient(s.FailoverOptions())
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Wait(ctx, 2, 10*time.Second).Result(); err != nil || n != 2 {
		t.Fatalf("WAIT 2: %d, %v", n, err)
	}
	old := s.KillPrimary(t)
	if old != s.Servers[0] {
		t.Fatalf("killed %s, the first primary is %s", old, s.Servers[0])
	}
	primary := s.AwaitFailover(t, old, 1, 5*startWithin)
	waitUntil(t, startWithin, "the failover client writes to the new primary", func() bool {
		return c.Set(ctx, "k2", "after", 0).Err() == nil
	})
	direct := redis.NewClient(&redis.Options{Addr: primary})
	defer direct.Close()
	for k, want := range map[string]string{"k": "before", "k2": "after"} {
		if got, err := direct.Get(ctx, k).Result(); err != nil || got != want {
			t.Fatalf("%s on the new primary %s: %q, %v", k, primary, got, err)
		}
	}
}
