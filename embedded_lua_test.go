package solvekit

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/patience"
)

// startScriptsPair starts the embedded Redis and, beside it, a bare
// miniredis running scripts its own way, to compare the two.
func startScriptsPair(t *testing.T) (emb, bare *redis.Client, e *embeddedRedis) {
	t.Helper()
	e, emb = startEmbedded()
	t.Cleanup(func() { _ = emb.Close(); e.Close() })
	require.NotNil(t, e.scripts, "the embedded Redis runs scripts on its own interpreter")
	m := miniredis.NewMiniRedis()
	bare = redis.NewClient(&redis.Options{
		Addr:   "bare",
		Dialer: func(context.Context, string, string) (net.Conn, error) { return m.Dial() },
	})
	t.Cleanup(func() { _ = bare.Close(); m.Close() })
	return emb, bare, e
}

// Scripts answer on the embedded Redis as they do on miniredis' own
// scripting: the same values, the same errors.
func TestEmbeddedScriptsAnswerAsMiniredis(t *testing.T) {
	emb, bare, e := startScriptsPair(t)
	ctx := context.Background()
	for _, c := range []struct {
		src  string
		keys []string
		args []any
	}{
		{src: `return 1`},
		{src: `return 'x'`},
		{src: `return nil`},
		{src: `return true`},
		{src: `return false`},
		{src: `return 3.7`},
		{src: `return {1, 'a', false, {2, 3}}`},
		{src: `return {1, nil, 3}`},
		{src: `return redis.status_reply('FINE')`},
		{src: `return redis.error_reply('NOT FOUND')`},
		{src: `return redis.error_reply('oops')`},
		{src: `return {KEYS[1], ARGV[1], ARGV[2], #KEYS, #ARGV}`, keys: []string{"k1"}, args: []any{"a1", 7}},
		{src: `redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])`, keys: []string{"s"}, args: []any{"v"}},
		{src: `return redis.call('GET', 'missing')`},
		{src: `redis.call('HSET', KEYS[1], 'f', 1, 'g', 'two'); return redis.call('HGETALL', KEYS[1])`, keys: []string{"h"}},
		{src: `return redis.call('TYPE', KEYS[1]).ok`, keys: []string{"h"}},
		{src: `return redis.call('SET', 'ok', 1)`},
		{src: `return redis.call('ZADD', KEYS[1], 2, 'b', 1, 'a') + redis.call('ZCARD', KEYS[1])`, keys: []string{"z"}},
		{src: `return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')`, keys: []string{"z"}},
		{src: `return redis.pcall('HGET', KEYS[1], 'f')`, keys: []string{"s"}},
		{src: `local r = redis.pcall('HGET', KEYS[1], 'f'); return type(r) == 'table' and r.err ~= nil`, keys: []string{"s"}},
		{src: `return cjson.encode({a = 1})`},
		{src: `return cjson.decode('[1,2,3]')[2]`},
		{src: `local t = {}; table.insert(t, 'x'); table.insert(t, 'y'); return {table.getn(t), unpack(t)}`},
		{src: `return {math.floor(2.5), string.format('%d-%s', 3, 'z'), tonumber('12'), tostring(5)}`},
		{src: `return redis.sha1hex('abc')`},
		{src: `return 1`, keys: []string{"a", "b"}},
		{src: `return redis.call('INCR', KEYS[1])`, keys: []string{"counter"}},
	} {
		want, wantErr := bare.Eval(ctx, c.src, c.keys, c.args...).Result()
		got, gotErr := emb.Eval(ctx, c.src, c.keys, c.args...).Result()
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), "error of %s", c.src)
		require.Equal(t, want, got, "reply of %s", c.src)
		// By SHA too, the way go-redis' Script and the store call them.
		want, wantErr = bare.EvalSha(ctx, sha1Hex(c.src), c.keys, c.args...).Result()
		got, gotErr = emb.EvalSha(ctx, sha1Hex(c.src), c.keys, c.args...).Result()
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), "error of EVALSHA %s", c.src)
		require.Equal(t, want, got, "reply of EVALSHA %s", c.src)
	}
	// Bad calls are refused with miniredis' words.
	for _, args := range [][]any{
		{"EVALSHA", "0000000000000000000000000000000000000000", 0},
		{"EVAL", "return 1", "x"},
		{"EVAL", "return 1", -1},
		{"EVAL", "return 1", 2, "a"},
		{"EVAL", "return 1"},
	} {
		_, wantErr := bare.Do(ctx, args...).Result()
		_, gotErr := emb.Do(ctx, args...).Result()
		require.Error(t, gotErr, "%v", args)
		require.Equal(t, wantErr.Error(), gotErr.Error(), "%v", args)
	}
	require.Positive(t, e.scripts.calls)
}

// What the embedded Redis answers where it departs from miniredis' own
// scripting, which wraps every error in "Error compiling script".
func TestEmbeddedScriptErrors(t *testing.T) {
	emb, _, _ := startScriptsPair(t)
	ctx := context.Background()
	require.NoError(t, emb.Set(ctx, "str", "abc", 0).Err())

	// A failed redis.call ends the script with that command's error.
	err := emb.Eval(ctx, `return redis.call('INCR', KEYS[1])`, []string{"str"}).Err()
	require.EqualError(t, err, "ERR value is not an integer or out of range")
	err = emb.Eval(ctx, `return redis.call('HGET', KEYS[1], 'f')`, []string{"str"}).Err()
	require.ErrorContains(t, err, "WRONGTYPE")

	// A Lua error says where it happened.
	err = emb.Eval(ctx, `local x = nil; return x.y`, nil).Err()
	require.ErrorContains(t, err, "ERR Error running script: ")
	require.ErrorContains(t, err, "user_script:1")
	err = emb.Eval(ctx, `error('boom')`, nil).Err()
	require.ErrorContains(t, err, "boom")
	err = emb.Eval(ctx, `return (`, nil).Err()
	require.ErrorContains(t, err, "ERR Error compiling script (new function): ")

	// Commands a script may not run.
	for _, src := range []string{
		`return redis.call('EVAL', 'return 1', 0)`,
		`return redis.call('MULTI')`,
		`return redis.call('BLPOP', 'l', 0)`,
		`return redis.call('HELLO', '3')`,
	} {
		require.ErrorContains(t, emb.Eval(ctx, src, nil).Err(), "not allowed from script", src)
	}
	// A read-only script may not write.
	err = emb.Do(ctx, "EVAL_RO", `return redis.call('SET', 'k', 'v')`, 0).Err()
	require.ErrorContains(t, err, "Write commands are not allowed")
	got, err := emb.Do(ctx, "EVAL_RO", `return redis.call('GET', KEYS[1])`, 1, "str").Result()
	require.NoError(t, err)
	require.Equal(t, "abc", got)

	// A run leaves no global behind for the next one.
	require.NoError(t, emb.Eval(ctx, `leak = 5; return leak`, nil).Err())
	got, err = emb.Eval(ctx, `return leak`, nil).Result()
	require.ErrorIs(t, err, redis.Nil)
	require.Nil(t, got)

	// The interpreter is still sound after all these errors.
	got, err = emb.Eval(ctx, `return redis.call('GET', KEYS[1])`, []string{"str"}).Result()
	require.NoError(t, err)
	require.Equal(t, "abc", got)
}

// SCRIPT LOAD, EXISTS and FLUSH, and scripts run in the DB the client
// selected.
func TestEmbeddedScriptCacheAndDB(t *testing.T) {
	emb, _, _ := startScriptsPair(t)
	ctx := context.Background()
	src := `return redis.call('GET', KEYS[1])`
	sha, err := emb.ScriptLoad(ctx, src).Result()
	require.NoError(t, err)
	require.Equal(t, sha1Hex(src), sha)
	exists, err := emb.ScriptExists(ctx, sha, sha1Hex("nothing")).Result()
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, exists)
	require.NoError(t, emb.Set(ctx, "k", "db0", 0).Err())
	got, err := emb.EvalSha(ctx, sha, []string{"k"}).Result()
	require.NoError(t, err)
	require.Equal(t, "db0", got)
	require.NoError(t, emb.ScriptFlush(ctx).Err())
	exists, err = emb.ScriptExists(ctx, sha).Result()
	require.NoError(t, err)
	require.Equal(t, []bool{false}, exists)
	require.ErrorContains(t, emb.EvalSha(ctx, sha, []string{"k"}).Err(), "NOSCRIPT")

	// A connection on DB 3 runs its scripts on DB 3.
	conn := emb.Conn()
	defer conn.Close()
	require.NoError(t, conn.Select(ctx, 3).Err())
	require.NoError(t, conn.Set(ctx, "k", "db3", 0).Err())
	got, err = conn.Eval(ctx, src, []string{"k"}).Result()
	require.NoError(t, err)
	require.Equal(t, "db3", got)
	got, err = emb.Eval(ctx, src, []string{"k"}).Result()
	require.NoError(t, err)
	require.Equal(t, "db0", got)
}

// A script runs alone: no other client's command lands between two of its
// commands. Scripts that read a counter and write it back, beside plain
// INCRs on it, lose no increment.
func TestEmbeddedScriptsRunAlone(t *testing.T) {
	emb, _, _ := startScriptsPair(t)
	ctx := context.Background()
	script := redis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('SET', 'scratch', v)
redis.call('SET', KEYS[1], v + 1)
return v + 1`)
	const workers, each = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range each {
				if err := script.Run(ctx, emb, []string{"n"}).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				if err := emb.Incr(ctx, "n").Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := emb.Get(ctx, "n").Int()
	require.NoError(t, err)
	require.Equal(t, 2*workers*each, n, "increments were lost: commands ran inside scripts")
}

// A script sent inside MULTI is refused and fails the transaction, as
// Redis refuses a transaction with a command it could not queue.
func TestEmbeddedScriptInMulti(t *testing.T) {
	emb, _, _ := startScriptsPair(t)
	ctx := context.Background()
	_, err := emb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "1", 0)
		p.Eval(ctx, `return redis.call('SET', 'b', '1')`, nil)
		return nil
	})
	require.ErrorContains(t, err, "EXECABORT")
	require.Zero(t, emb.Exists(ctx, "a", "b").Val(), "the failed transaction wrote")
	// The connection is usable afterwards.
	require.NoError(t, emb.Eval(ctx, `return redis.call('SET', 'c', '1')`, nil).Err())
}

// A blocked XREAD does not hold up scripts, and wakes up for what a script
// adds.
func TestEmbeddedScriptWakesBlockedReader(t *testing.T) {
	emb, _, _ := startScriptsPair(t)
	ctx := context.Background()
	read := make(chan []redis.XStream, 1)
	go func() {
		res, _ := emb.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "$"}, Block: patience.Scale(10 * time.Second)}).Result()
		read <- res
	}()
	// Add until the reader, once blocked, sees an entry.
	deadline := time.After(patience.Scale(10 * time.Second))
	for {
		require.NoError(t, emb.Eval(ctx, `return redis.call('XADD', KEYS[1], '*', 'f', 'v')`, []string{"s"}).Err())
		select {
		case res := <-read:
			require.Len(t, res, 1)
			require.NotEmpty(t, res[0].Messages)
			return
		case <-deadline:
			t.Fatal("XREAD BLOCK did not return")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A script call reuses the interpreter: it allocates a few KB, not the
// ~190 KB of building a Lua state with its libraries.
func TestEmbeddedScriptReusesInterpreter(t *testing.T) {
	emb, _, e := startScriptsPair(t)
	ctx := context.Background()
	script := redis.NewScript(`redis.call('HSET', KEYS[1], 'state', ARGV[1]); return redis.call('HGET', KEYS[1], 'state')`)
	require.NoError(t, script.Run(ctx, emb, []string{"h"}, "x").Err())
	calls := e.scripts.calls
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		require.NoError(t, script.Run(ctx, emb, []string{"h"}, "x").Err())
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("a script call allocated %d bytes", perRun)
	require.Equal(t, calls+runs, e.scripts.calls, "scripts ran elsewhere than on the embedded interpreter")
	require.Less(t, perRun, uint64(40<<10), "a script call allocated %d bytes: a new interpreter per call?", perRun)
}
