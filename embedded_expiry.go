package solvekit

import (
	"container/heap"
	"strconv"
	"strings"
	"time"
)

// The embedded Redis runs its TTLs down with miniredis' FastForward, which
// walks and sorts every key. A forward is therefore made only when it is
// needed: when a TTL seen being set (by any client or script, through the
// hook) has come due, when a client reads a TTL, and at least every
// embeddedTickMax. The ticks come no sooner after the last forward than
// nextEmbeddedTick of what that one took, so that forwards take about 2% of
// the time up to a few hundred thousand keys (past that, nextEmbeddedTick
// is embeddedTickMax); a TTL read forwards at once (nothing reads TTLs on a
// hot path).

// ttlDeadline is when the TTL that cmd (upper case; args without the
// command's name) sets would run out, or now when it cannot tell; ok is
// false for a command that sets no TTL.
func ttlDeadline(cmd string, args []string, now time.Time) (time.Time, bool) {
	at := func(unit, v string) time.Time {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return now
		}
		switch unit {
		case "EX":
			return now.Add(time.Duration(n) * time.Second)
		case "PX":
			return now.Add(time.Duration(n) * time.Millisecond)
		case "EXAT":
			return time.Unix(n, 0)
		case "PXAT":
			return time.UnixMilli(n)
		}
		return now
	}
	// option scans args for EX, PX, EXAT or PXAT and its value.
	option := func(args []string) (time.Time, bool) {
		for i := 0; i+1 < len(args); i++ {
			switch u := strings.ToUpper(args[i]); u {
			case "EX", "PX", "EXAT", "PXAT":
				return at(u, args[i+1]), true
			}
		}
		return time.Time{}, false
	}
	if len(args) < 2 {
		return time.Time{}, false
	}
	switch cmd {
	case "EXPIRE", "SETEX", "HEXPIRE":
		return at("EX", args[1]), true
	case "PEXPIRE", "PSETEX", "HPEXPIRE":
		return at("PX", args[1]), true
	case "EXPIREAT", "HEXPIREAT":
		return at("EXAT", args[1]), true
	case "PEXPIREAT", "HPEXPIREAT":
		return at("PXAT", args[1]), true
	case "SET":
		return option(args[2:])
	case "GETEX", "HSETEX", "HGETEX":
		return option(args[1:])
	case "RESTORE":
		if args[1] == "0" {
			return time.Time{}, false
		}
		for _, a := range args[2:] {
			if strings.EqualFold(a, "ABSTTL") {
				return at("PXAT", args[1]), true
			}
		}
		return at("PX", args[1]), true
	}
	return time.Time{}, false
}

// ttlReader reports whether cmd reads a TTL, which must then be up to date.
func ttlReader(cmd string) bool {
	switch cmd {
	case "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "HTTL", "HPTTL", "HEXPIRETIME", "HPEXPIRETIME":
		return true
	}
	return false
}

// deadline is a TTL that runs out at at, set on key.
type deadline struct {
	at  time.Time
	key dbKey
}

// deadlines is a min-heap of deadlines by time.
type deadlines []deadline

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].at.Before(d[j].at) }
func (d deadlines) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *deadlines) Push(x any)        { *d = append(*d, x.(deadline)) }
func (d *deadlines) Pop() any {
	old := *d
	x := old[len(old)-1]
	*d = old[:len(old)-1]
	return x
}

// noteDeadline records the TTL a command sets on key k. Under mu.
func (h *embeddedScripts) noteDeadline(k dbKey, at time.Time) {
	h.deadlineOf[k] = at
	heap.Push(&h.deadlines, deadline{at: at, key: k})
}

// dueLocked reports whether a forward is due at now: a recorded TTL ran
// out (the latest one set on its key; earlier ones are dropped), or the
// last forward is embeddedTickMax old. Under mu.
func (h *embeddedScripts) dueLocked(now time.Time) bool {
	for len(h.deadlines) > 0 && !h.deadlines[0].at.After(now) {
		d := heap.Pop(&h.deadlines).(deadline)
		if at, ok := h.deadlineOf[d.key]; ok && at.Equal(d.at) {
			delete(h.deadlineOf, d.key)
			return true
		}
	}
	return now.Sub(h.lastForward) >= embeddedTickMax
}

// forwardLocked runs every TTL down by the time since the last forward,
// after giving back to the keys whose TTL was set since then the part of
// that time that came before they were set (restoreTTLs): no key expires
// early. Under mu.
func (h *embeddedScripts) forwardLocked(now time.Time) {
	h.restoreTTLs(h.lastForward)
	h.m.FastForward(now.Sub(h.lastForward))
	h.lastForward = now
	h.forwards++
	h.forwardTook = time.Since(now)
}

// mayForwardLocked reports whether a forward at now keeps forwards to
// about 2% of the time. Under mu.
func (h *embeddedScripts) mayForwardLocked(now time.Time) bool {
	return now.Sub(h.lastForward) >= nextEmbeddedTick(h.forwardTook)
}

// tick forwards if one is due and allowed; the expiry loop calls it every
// embeddedTickMin.
func (h *embeddedScripts) tick(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mayForwardLocked(now) && h.dueLocked(now) {
		h.forwardLocked(now)
	}
}
