package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/client"
)

// On a terminal, follow keeps one status line at the bottom: each change
// redraws it in place, and a log line is printed over it and the line
// drawn again below.
func TestStatusLineRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	a := &app{out: &out}
	a.flags.output = "table"
	sl := &statusLine{w: &out, live: true, start: time.Now()}
	ev := func(typ, data string) { a.event(sl, client.Event{Type: typ, Data: json.RawMessage(data)}, false) }

	ev("status", `{"state":"running","attempt":1}`)
	ev("progress", `{"progress":0.5,"message":"half way"}`)
	require.Equal(t, "\r\x1b[Krunning   "+strings.Repeat("░", barWidth)+"   0%  0s"+
		"\r\x1b[Krunning   "+strings.Repeat("█", barWidth/2)+strings.Repeat("░", barWidth/2)+"  50%  half way  0s", out.String())

	out.Reset()
	ev("log", `{"id":"1-0","time":"2026-01-02T03:04:05Z","level":"INFO","message":"hello","attrs":{"k":1}}`)
	s := out.String()
	require.True(t, strings.HasPrefix(s, "\r\x1b[K"), "the status line is erased first: %q", s)
	require.Contains(t, s, "INFO  hello k=1\n")
	require.True(t, strings.HasSuffix(s, "half way  0s"), "and drawn again below the log line: %q", s)

	out.Reset()
	ev("incumbent", `{"objective":42.5}`)
	require.Contains(t, out.String(), "objective 42.5  half way")

	// A long message is cut so that the line never wraps.
	sl.message = strings.Repeat("x", 200)
	require.LessOrEqual(t, utf8.RuneCountInString(sl.text()), maxLine)

	out.Reset()
	sl.clear()
	require.Equal(t, "\r\x1b[K", out.String())
	out.Reset()
	ev("progress", `{"progress":1,"message":"done"}`)
	require.Equal(t, "progress 100% done\n", out.String(), "after clear, changes are plain lines")
}
