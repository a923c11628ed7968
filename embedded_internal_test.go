package solvekit

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/patience"
)

// A command on the embedded Redis costs the same however many keys are
// stored. miniredis' ClockTTL, used before, walked and sorted every key on
// every command to run the TTLs down; the embedded Redis now does that on
// a ticker. Measured by what a command allocates (a walk over the keys
// allocates at least 16 bytes per key), not by time.
func TestEmbeddedCommandCostDoesNotGrowWithKeys(t *testing.T) {
	e, rdb := startEmbedded()
	defer e.Close()
	defer rdb.Close()
	ctx := context.Background()
	const keys = 10000
	pipe := rdb.Pipeline()
	for i := range keys {
		pipe.HSet(ctx, fmt.Sprintf("{sk}:x:%08d", i), "state", "succeeded")
		if i%1000 == 999 {
			_, err := pipe.Exec(ctx)
			require.NoError(t, err)
		}
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())

	const commands = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range commands {
		require.NoError(t, rdb.Get(ctx, "k").Err())
	}
	runtime.ReadMemStats(&after)
	perCommand := (after.TotalAlloc - before.TotalAlloc) / commands
	t.Logf("a GET allocated %d bytes with %d keys stored", perCommand, keys)
	// One walk over the keys per command would be ≥ 16 B × keys (160 KB).
	// A GET allocates about 1 KB here; the ticker's passes over the keys
	// (at most one per 100 ms) add a little, far below the bound.
	require.Less(t, perCommand, uint64(4*keys),
		"a GET allocated %d bytes with %d keys stored: commands walk the keys", perCommand, keys)
}

// The wait between expiry ticks grows with what a tick costs, between
// its bounds.
func TestNextEmbeddedTick(t *testing.T) {
	require.Equal(t, embeddedTickMin, nextEmbeddedTick(0))
	require.Equal(t, embeddedTickMin, nextEmbeddedTick(time.Millisecond))
	require.Equal(t, 500*time.Millisecond, nextEmbeddedTick(10*time.Millisecond))
	require.Equal(t, embeddedTickMax, nextEmbeddedTick(time.Second))
}

// No key expires before its TTL has run out, whenever between two expiry
// ticks its TTL was set, and however (SET PX, PEXPIRE, inside a script).
// A tick runs every TTL down by the time since the previous tick, which
// for a key set in between is more than its age; the tick gives that
// difference back first.
func TestEmbeddedKeysNeverExpireEarly(t *testing.T) {
	e, rdb := startEmbedded()
	defer e.Close()
	defer rdb.Close()
	ctx := context.Background()
	const ttl = 300 * time.Millisecond // a whole number of the first ticks: a key set between two is run down early without the give-back
	const n = 30
	setAt := make([]time.Time, n)
	for i := range n {
		k := fmt.Sprintf("k%d", i)
		switch i % 3 {
		case 0:
			setAt[i] = time.Now() // the TTL starts no earlier than this
			require.NoError(t, rdb.Set(ctx, k, "v", ttl).Err())
		case 1:
			require.NoError(t, rdb.Set(ctx, k, "v", 0).Err())
			setAt[i] = time.Now()
			require.NoError(t, rdb.PExpire(ctx, k, ttl).Err())
		case 2:
			setAt[i] = time.Now()
			require.NoError(t, rdb.Eval(ctx, `return redis.call('SET', KEYS[1], 'v', 'PX', ARGV[1])`,
				[]string{k}, ttl.Milliseconds()).Err())
		}
		time.Sleep(7 * time.Millisecond) // spread over the ticks
	}
	gone := make([]bool, n)
	deadline := time.Now().Add(patience.Scale(30 * time.Second))
	for left := n; left > 0; time.Sleep(2 * time.Millisecond) {
		for i := range n {
			if gone[i] {
				continue
			}
			exists, err := rdb.Exists(ctx, fmt.Sprintf("k%d", i)).Result()
			require.NoError(t, err)
			if exists == 0 {
				age := time.Since(setAt[i])
				require.GreaterOrEqual(t, age, ttl, "key %d expired %s after its TTL of %s was set", i, age, ttl)
				gone[i] = true
				left--
			}
		}
		require.False(t, time.Now().After(deadline), "keys with a TTL did not expire")
	}
}

// The embedded Redis walks its keys to run the TTLs down only when a TTL
// is due or read: with many keys and no TTL running out, no walk.
func TestEmbeddedExpiryForwardsOnlyWhenDue(t *testing.T) {
	e, rdb := startEmbedded()
	defer e.Close()
	defer rdb.Close()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx, fmt.Sprintf("plain:%d", i), "v", 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	require.NoError(t, rdb.Set(ctx, "later", "v", time.Hour).Err())
	forwards := func() int64 {
		e.scripts.mu.Lock()
		defer e.scripts.mu.Unlock()
		return e.scripts.forwards
	}
	f0 := forwards()
	time.Sleep(5 * embeddedTickMin)
	require.Equal(t, f0, forwards(), "the keys were walked with no TTL due")

	// A TTL coming due is forwarded to, and its key expires.
	require.NoError(t, rdb.Set(ctx, "soon", "v", 200*time.Millisecond).Err())
	require.Eventually(t, func() bool {
		n, err := rdb.Exists(ctx, "soon").Result()
		return err == nil && n == 0
	}, patience.Scale(10*time.Second), 10*time.Millisecond, "a due TTL did not expire")
	require.Greater(t, forwards(), f0)

	// A TTL read is up to date: 300 ms after it was set, at least 300 ms
	// have run off.
	require.NoError(t, rdb.Set(ctx, "read", "v", 5*time.Second).Err())
	time.Sleep(300 * time.Millisecond)
	left, err := rdb.PTTL(ctx, "read").Result()
	require.NoError(t, err)
	require.LessOrEqual(t, left, 4700*time.Millisecond+time.Millisecond, "PTTL did not run down")
	require.Positive(t, left)
}

// When a command's TTL runs out, as the expiry schedule reads it.
func TestTTLDeadline(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		cmd  string
		args []string
		want time.Time
		ok   bool
	}{
		{"EXPIRE", []string{"k", "10"}, now.Add(10 * time.Second), true},
		{"PEXPIRE", []string{"k", "250"}, now.Add(250 * time.Millisecond), true},
		{"EXPIREAT", []string{"k", "1700000100"}, time.Unix(1_700_000_100, 0), true},
		{"PEXPIREAT", []string{"k", "1700000000500"}, time.UnixMilli(1_700_000_000_500), true},
		{"SETEX", []string{"k", "3", "v"}, now.Add(3 * time.Second), true},
		{"PSETEX", []string{"k", "30", "v"}, now.Add(30 * time.Millisecond), true},
		{"SET", []string{"k", "v", "NX", "px", "300"}, now.Add(300 * time.Millisecond), true},
		{"SET", []string{"k", "v", "EXAT", "1700000005"}, time.Unix(1_700_000_005, 0), true},
		{"SET", []string{"k", "v"}, time.Time{}, false},
		{"GETEX", []string{"k", "EX", "7"}, now.Add(7 * time.Second), true},
		{"GETEX", []string{"k", "PERSIST"}, time.Time{}, false},
		{"RESTORE", []string{"k", "0", "payload"}, time.Time{}, false},
		{"RESTORE", []string{"k", "1500", "payload"}, now.Add(1500 * time.Millisecond), true},
		{"HEXPIRE", []string{"h", "5", "FIELDS", "1", "f"}, now.Add(5 * time.Second), true},
		{"EXPIRE", []string{"k", "soon"}, now, true}, // unreadable: due at once
		{"HSET", []string{"h", "f", "v"}, time.Time{}, false},
	} {
		got, ok := ttlDeadline(c.cmd, c.args, now)
		require.Equal(t, c.ok, ok, "%s %v", c.cmd, c.args)
		require.True(t, c.want.Equal(got), "%s %v: %s, want %s", c.cmd, c.args, got, c.want)
	}
}
