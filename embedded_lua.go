package solvekit

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	luajson "github.com/alicebob/miniredis/v2/gopher-json"
	"github.com/alicebob/miniredis/v2/server"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// embeddedScripts runs the embedded Redis' Lua scripts (EVAL, EVALSHA,
// their _RO forms and SCRIPT LOAD/EXISTS/FLUSH) on one Lua interpreter
// built once, in place of miniredis' own scripting, which builds a new
// interpreter with all its libraries for every call: most of the embedded
// Redis' CPU per job went to that, and each call allocated about 195 KB.
//
// It sits in miniredis' public command pre-hook (server.SetPreHook) and
// drives miniredis through its public API only: a script's redis.call
// runs the command with server.Dispatch on a peer of its own and reads
// the reply with server.ParseReply.
//
// A script must run alone: miniredis locks itself per command, so the
// commands of a script could interleave with other clients' commands. The
// hook therefore runs every command (each client's and each script's)
// while holding mu, and a script holds it from its first command to its
// last. miniredis serialises all commands anyway, so mu costs no
// parallelism. Blocking commands (BLPOP, XREAD BLOCK, …) run without mu:
// holding it while they wait would stop everything else. Between their
// wake-up and their reply they may therefore see a script half done; the
// client's next command waits for the script to end.
type embeddedScripts struct {
	srv *server.Server

	// running is the peer whose command is being dispatched under mu: its
	// own dispatch comes back through the hook and must pass straight on.
	running atomic.Pointer[server.Peer]

	mu      sync.Mutex
	calls   int64                          // scripts run, for tests
	scripts map[string]*lua.FunctionProto  // sha1 (lowercase hex) → compiled
	peers   map[*server.Peer]*scriptClient // clients that sent a command
	// ttlSet: the keys whose TTL was set since the last forward, and when
	// (see restoreTTLs). The rest is the expiry's schedule
	// (embedded_expiry.go).
	ttlSet      map[dbKey]time.Time
	m           *miniredis.Miniredis
	lastForward time.Time
	forwardTook time.Duration
	forwards    int64 // for tests
	deadlines   deadlines
	deadlineOf  map[dbKey]time.Time

	l        *lua.LState
	env      *lua.LTable // a script's globals: reads fall back to l's
	inner    *server.Peer
	innerOut bytes.Buffer
	innerW   *bufio.Writer
	innerR   *bufio.Reader
	innerDB  string // DB the inner peer selected, "" when unknown
	readOnly bool   // the running script came in by EVAL_RO / EVALSHA_RO
	args     []string
}

// dbKey is a key in a DB.
type dbKey struct{ db, key string }

// scriptClient is what the hook keeps of a client connection: the DB it
// selected (its scripts run there) and whether it is inside MULTI.
type scriptClient struct {
	db    string
	multi bool
}

// newEmbeddedScripts installs the script runner on srv.
func newEmbeddedScripts(m *miniredis.Miniredis, srv *server.Server) *embeddedScripts {
	h := &embeddedScripts{
		m:           m,
		lastForward: time.Now(),
		deadlineOf:  map[dbKey]time.Time{},
		srv:         srv,
		scripts:     map[string]*lua.FunctionProto{},
		peers:       map[*server.Peer]*scriptClient{},
		ttlSet:      map[dbKey]time.Time{},
		innerDB:     "0",
	}
	h.innerW = bufio.NewWriter(&h.innerOut)
	h.innerR = bufio.NewReader(&h.innerOut)
	h.inner = server.NewPeer(h.innerW)
	h.l = h.newState()
	srv.SetPreHook(h.hook)
	return h
}

// newState builds the interpreter: Lua's base, table, string and math
// libraries, cjson, and the redis module.
func (h *embeddedScripts) newState() *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage}, // require, for cjson
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	luajson.Preload(l)
	l.Push(l.GetGlobal("require"))
	l.Push(lua.LString("json"))
	l.Call(1, 1)
	l.SetGlobal("cjson", l.Get(-1))
	l.Pop(1)

	redisMod := l.NewTable()
	for name, fn := range map[string]lua.LGFunction{
		"call":               func(l *lua.LState) int { return h.call(l, true) },
		"pcall":              func(l *lua.LState) int { return h.call(l, false) },
		"error_reply":        luaErrorReply,
		"status_reply":       luaStatusReply,
		"sha1hex":            func(l *lua.LState) int { l.Push(lua.LString(sha1Hex(l.CheckString(1)))); return 1 },
		"log":                func(*lua.LState) int { return 0 },
		"replicate_commands": func(l *lua.LState) int { l.Push(lua.LTrue); return 1 },
		"set_repl":           func(*lua.LState) int { return 0 },
	} {
		redisMod.RawSetString(name, l.NewFunction(fn))
	}
	for name, v := range map[string]int{
		"LOG_DEBUG": 0, "LOG_VERBOSE": 1, "LOG_NOTICE": 2, "LOG_WARNING": 3,
		"REPL_NONE": 0, "REPL_AOF": 1, "REPL_SLAVE": 2, "REPL_REPLICA": 2, "REPL_ALL": 3,
	} {
		redisMod.RawSetString(name, lua.LNumber(v))
	}
	l.SetGlobal("redis", redisMod)
	l.SetGlobal("server", redisMod)

	// A run's globals (KEYS, ARGV and whatever it assigns) live in a table
	// of their own, which reads through to the shared ones and is emptied
	// after each run: a run leaves nothing behind for the next.
	meta := l.CreateTable(0, 1)
	meta.RawSetString("__index", l.G.Global)
	h.env = l.CreateTable(0, 2)
	h.env.Metatable = meta
	return l
}

// hook is the pre-hook: it runs every command but blocking ones under mu,
// and runs scripts itself. It returns true when the command was answered.
func (h *embeddedScripts) hook(p *server.Peer, cmd string, args ...string) bool {
	if h.running.Load() == p || blockingCommand(cmd, args) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running.Store(p)
	defer h.running.Store(nil)
	c := h.peers[p]
	if c == nil {
		c = &scriptClient{db: "0"}
		h.peers[p] = c
		p.OnDisconnect(func() {
			h.mu.Lock()
			delete(h.peers, p)
			h.mu.Unlock()
		})
	}
	switch cmd {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT":
		if c.multi {
			// Not run inside MULTI. Sent with no arguments, miniredis
			// answers an error and marks the transaction failed, so its
			// EXEC is refused (EXECABORT) as Redis refuses a transaction
			// with a command it could not queue.
			h.srv.Dispatch(p, []string{cmd})
			return true
		}
		if cmd == "SCRIPT" {
			return h.script(p, args)
		}
		h.eval(p, c, cmd, args)
		return true
	}
	if ttlReader(cmd) {
		// A TTL read is always up to date, whatever the rate bound of
		// the ticks: neither solvekit nor asynq reads TTLs on a hot path.
		h.forwardLocked(time.Now())
	}
	h.srv.Dispatch(p, append([]string{cmd}, args...))
	h.noteTTL(c.db, cmd, args)
	switch cmd {
	case "MULTI":
		c.multi = true
	case "EXEC", "DISCARD":
		c.multi = false
	case "RESET":
		*c = scriptClient{db: "0"}
	case "SELECT":
		if n, err := strconv.Atoi(firstArg(args)); err == nil && n >= 0 && !c.multi {
			c.db = strconv.Itoa(n)
		}
	}
	return true
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// blockingCommand reports whether cmd may wait for another client.
func blockingCommand(cmd string, args []string) bool {
	switch cmd {
	case "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP":
		return true
	case "XREAD", "XREADGROUP":
		for _, a := range args {
			if strings.EqualFold(a, "BLOCK") {
				return true
			}
		}
	}
	return false
}

// script answers SCRIPT LOAD, EXISTS and FLUSH from the runner's cache;
// other subcommands go to miniredis.
func (h *embeddedScripts) script(p *server.Peer, args []string) bool {
	switch strings.ToUpper(firstArg(args)) {
	case "LOAD":
		if len(args) != 2 {
			break
		}
		sha, err := h.compile(args[1])
		if err != nil {
			p.WriteError(err.Error())
			return true
		}
		p.WriteBulk(sha)
		return true
	case "EXISTS":
		if len(args) < 2 {
			break
		}
		p.WriteLen(len(args) - 1)
		for _, sha := range args[1:] {
			if h.scripts[strings.ToLower(sha)] != nil {
				p.WriteInt(1)
			} else {
				p.WriteInt(0)
			}
		}
		return true
	case "FLUSH":
		if len(args) > 2 {
			break
		}
		clear(h.scripts)
		h.srv.Dispatch(p, []string{"SCRIPT", "FLUSH"})
		return true
	}
	h.srv.Dispatch(p, append([]string{"SCRIPT"}, args...))
	return true
}

// compile parses src and caches it under its SHA1.
func (h *embeddedScripts) compile(src string) (string, error) {
	sha := sha1Hex(src)
	if h.scripts[sha] != nil {
		return sha, nil
	}
	chunk, err := parse.Parse(strings.NewReader(src), "@user_script")
	if err == nil {
		var proto *lua.FunctionProto
		if proto, err = lua.Compile(chunk, "@user_script"); err == nil {
			// No Lua 5.0 'arg' table for the chunk: Redis gives a script
			// none, and building it cost every call a table.
			proto.IsVarArg &^= lua.VarArgNeedsArg
			h.scripts[sha] = proto
			return sha, nil
		}
	}
	return "", scriptError("ERR Error compiling script (new function): " + err.Error())
}

type scriptError string

func (e scriptError) Error() string { return string(e) }

// eval runs EVAL, EVALSHA and their _RO forms for client p.
func (h *embeddedScripts) eval(p *server.Peer, c *scriptClient, cmd string, args []string) {
	if len(args) < 2 {
		h.srv.Dispatch(p, append([]string{cmd}, args...)) // miniredis' arity error
		return
	}
	var proto *lua.FunctionProto
	if cmd == "EVAL" || cmd == "EVAL_RO" {
		sha, err := h.compile(args[0])
		if err != nil {
			p.WriteError(err.Error())
			return
		}
		proto = h.scripts[sha]
	} else if proto = h.scripts[strings.ToLower(args[0])]; proto == nil {
		p.WriteError("NOSCRIPT No matching script. Please use EVAL.")
		return
	}
	nkeys, err := strconv.Atoi(args[1])
	switch {
	case err != nil:
		p.WriteError("ERR value is not an integer or out of range")
		return
	case nkeys < 0:
		p.WriteError("ERR Number of keys can't be negative")
		return
	case nkeys > len(args)-2:
		p.WriteError("ERR Number of keys can't be greater than number of args")
		return
	}
	if h.innerDB != c.db {
		h.dispatchInner([]string{"SELECT", c.db})
		h.innerDB = c.db
	}
	h.calls++
	h.readOnly = strings.HasSuffix(cmd, "_RO")
	l := h.l
	h.env.RawSetString("KEYS", luaStrings(l, args[2:2+nkeys]))
	h.env.RawSetString("ARGV", luaStrings(l, args[2+nkeys:]))
	fn := l.NewFunctionFromProto(proto)
	fn.Env = h.env
	l.Push(fn)
	err = l.PCall(0, 1, nil)
	h.clearEnv()
	if err != nil {
		l.SetTop(0)
		var obj lua.LValue
		if ae, ok := err.(*lua.ApiError); ok {
			obj = ae.Object
		}
		msg := err.Error()
		switch o := obj.(type) {
		case *lua.LTable: // redis.call's error reply, or error(redis.error_reply(…))
			if e, ok := o.RawGetString("err").(lua.LString); ok {
				p.WriteError(string(e))
				return
			}
		case lua.LString:
			msg = string(o) // without the stack trace
		}
		p.WriteError("ERR Error running script: " + msg)
		return
	}
	ret := l.Get(-1)
	l.SetTop(0)
	writeLuaReply(l, p, ret)
}

// clearEnv empties the globals table of the run that ended.
func (h *embeddedScripts) clearEnv() {
	var set []lua.LValue
	h.env.ForEach(func(k, _ lua.LValue) { set = append(set, k) })
	for _, k := range set {
		h.env.RawSet(k, lua.LNil)
	}
}

func luaStrings(l *lua.LState, ss []string) *lua.LTable {
	t := l.CreateTable(len(ss), 0)
	for i, s := range ss {
		t.RawSetInt(i+1, lua.LString(s))
	}
	return t
}

// call is redis.call (raise: an error reply raises a Lua error) and
// redis.pcall (it returns the error as a table {err = "..."}).
func (h *embeddedScripts) call(l *lua.LState, raise bool) int {
	n := l.GetTop()
	if n == 0 {
		l.RaiseError("Please specify at least one argument for this redis lib call")
	}
	args := h.args[:0]
	for i := 1; i <= n; i++ {
		switch v := l.Get(i).(type) {
		case lua.LString:
			args = append(args, string(v))
		case lua.LNumber:
			args = append(args, v.String())
		default:
			l.RaiseError("Lua redis lib command arguments must be strings or integers")
		}
	}
	h.args = args
	cmd := strings.ToUpper(args[0])
	var refused string
	switch {
	case notFromScripts(cmd, args[1:]):
		refused = "ERR This Redis command is not allowed from script"
	case h.readOnly && h.srv.IsRegisteredCommand(cmd) && !h.srv.IsReadOnlyCommand(cmd):
		refused = "ERR Write commands are not allowed from read-only scripts."
	}
	var (
		res any
		err error
	)
	if refused != "" {
		err = scriptError(refused)
	} else {
		if cmd == "SELECT" {
			h.innerDB = "" // unknown until the next run selects again
		}
		db := h.innerDB
		res, err = h.dispatchInner(args)
		if db != "" {
			h.noteTTL(db, cmd, args[1:])
		}
	}
	if err != nil {
		e := l.CreateTable(0, 1)
		e.RawSetString("err", lua.LString(err.Error()))
		if raise {
			l.Error(e, 0)
		}
		l.Push(e)
		return 1
	}
	l.Push(redisToLuaValue(l, res))
	return 1
}

// noteTTL records when a command that may set a key's TTL ran (cmd
// upper case, args without the command's name).
func (h *embeddedScripts) noteTTL(db, cmd string, args []string) {
	now := time.Now()
	at, ok := ttlDeadline(cmd, args, now)
	if !ok || len(args) == 0 {
		return
	}
	k := dbKey{db, args[0]}
	h.noteDeadline(k, at)
	if !strings.HasPrefix(cmd, "H") { // a hash field's TTL is not the key's
		h.ttlSet[k] = now
	}
}

// restoreTTLs gives back to each key whose TTL was set since the last
// tick (at last) the part of the coming step that elapsed before it was
// set, so that the step, which runs all TTLs down by the time since last,
// does not run that key's down by more than its age: no key expires
// early. Called under mu, right before the step.
func (h *embeddedScripts) restoreTTLs(last time.Time) {
	for k, at := range h.ttlSet {
		back := at.Sub(last)
		if back <= 0 {
			continue
		}
		if h.innerDB != k.db {
			_, _ = h.dispatchInner([]string{"SELECT", k.db})
			h.innerDB = k.db
		}
		left, err := h.dispatchInner([]string{"PTTL", k.key})
		if ms, ok := left.(int); err == nil && ok && ms > 0 {
			ms += int((back + time.Millisecond - 1) / time.Millisecond)
			_, _ = h.dispatchInner([]string{"PEXPIRE", k.key, strconv.Itoa(ms)})
		}
	}
	clear(h.ttlSet)
}

// dispatchInner runs one command of a script and returns its parsed reply.
func (h *embeddedScripts) dispatchInner(args []string) (any, error) {
	h.innerOut.Reset()
	prev := h.running.Swap(h.inner)
	h.srv.Dispatch(h.inner, args)
	h.running.Store(prev)
	_ = h.innerW.Flush()
	h.innerR.Reset(&h.innerOut)
	return server.ParseReply(h.innerR)
}

// notFromScripts: commands a script may not run here, because they would
// wait, change the connection's protocol, or nest scripts and
// transactions.
func notFromScripts(cmd string, args []string) bool {
	switch cmd {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
		"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
		"HELLO", "AUTH", "QUIT", "RESET", "CLIENT", "MONITOR":
		return true
	}
	return blockingCommand(cmd, args)
}

// redisToLuaValue converts a parsed reply into what redis.call returns:
// integers as numbers, bulk strings as strings, nil as false, arrays as
// tables, a status as {ok = "..."}.
func redisToLuaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LFalse
	case int:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case server.Simple:
		t := l.CreateTable(0, 1)
		t.RawSetString("ok", lua.LString(v))
		return t
	case []any:
		t := l.CreateTable(len(v), 0)
		for i, e := range v {
			t.RawSetInt(i+1, redisToLuaValue(l, e))
		}
		return t
	}
	return lua.LFalse
}

// writeLuaReply writes a script's return value as Redis does: numbers as
// integers (truncated), strings as bulk strings, true as 1, false and nil
// as nil, {err = …} as an error, {ok = …} as a status, and any other table
// as an array up to its first nil.
func writeLuaReply(l *lua.LState, p *server.Peer, v lua.LValue) {
	switch v := v.(type) {
	case lua.LNumber:
		p.WriteInt(int(v))
	case lua.LString:
		p.WriteBulk(string(v))
	case lua.LBool:
		if v {
			p.WriteInt(1)
		} else {
			p.WriteNull()
		}
	case *lua.LTable:
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			p.WriteError(string(e))
			return
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			p.WriteInline(string(s))
			return
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		p.WriteLen(n)
		for i := 1; i <= n; i++ {
			writeLuaReply(l, p, v.RawGetInt(i))
		}
	default:
		p.WriteNull()
	}
}

// luaErrorReply is redis.error_reply: {err = msg}, with "ERR " in front
// of a message that has no error code of its own.
func luaErrorReply(l *lua.LState) int {
	msg := strings.TrimPrefix(l.CheckString(1), "-")
	if !strings.Contains(msg, " ") {
		msg = "ERR " + msg
	}
	t := l.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(msg))
	l.Push(t)
	return 1
}

// luaStatusReply is redis.status_reply: {ok = msg}.
func luaStatusReply(l *lua.LState) int {
	t := l.CreateTable(0, 1)
	t.RawSetString("ok", lua.LString(l.CheckString(1)))
	l.Push(t)
	return 1
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
