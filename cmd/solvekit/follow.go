package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/client"
)

// isTerminal reports whether f is a terminal (a character device), where
// a status line can be redrawn in place.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// followRetries is how often a broken event stream is resumed before
// follow gives up.
const followRetries = 5

// follow streams execution id's events until it ends: its log records,
// and unless logsOnly its state changes, progress and incumbents, as a
// live status line on a terminal or as plain lines otherwise. With
// --output json it prints each event (only log records when logsOnly) as
// a JSON line. Events of attempts before fromAttempt (those a relaunched
// execution's stream replays) are skipped. A broken stream is resumed
// where it broke.
func (a *app) follow(ctx context.Context, c *client.Client, id string, logsOnly bool, fromAttempt int) error {
	sl := &statusLine{w: a.out, start: time.Now()}
	if f, ok := a.out.(*os.File); ok && isTerminal(f) && !a.json() && !logsOnly {
		sl.live = true
		stop := sl.tick(time.Second)
		defer stop()
	}
	defer sl.clear()
	last := ""
	var err error
	for try := 0; try <= followRetries; try++ {
		err = c.Events(ctx, id, last, func(ev client.Event) error {
			if ev.ID != "" {
				last = ev.ID
			}
			var at struct {
				Attempt int `json:"attempt"`
			}
			if fromAttempt > 1 && json.Unmarshal(ev.Data, &at) == nil && at.Attempt > 0 && at.Attempt < fromAttempt {
				return nil
			}
			a.event(sl, ev, logsOnly)
			return nil
		})
		if err == nil || ctx.Err() != nil || client.StatusCode(err) != 0 {
			return err // the end of the stream, or the server refused it
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(try+1) * 500 * time.Millisecond):
		}
	}
	return fmt.Errorf("following execution %s: %w", id, err)
}

// event prints one event of follow.
func (a *app) event(sl *statusLine, ev client.Event, logsOnly bool) {
	if ev.Type == "log" {
		var r record.LogRecord
		if json.Unmarshal(ev.Data, &r) == nil {
			sl.above(func() { a.printLog(r) })
		}
		return
	}
	if logsOnly {
		return
	}
	if a.json() {
		b, _ := json.Marshal(map[string]any{"id": ev.ID, "type": ev.Type, "data": ev.Data})
		fmt.Fprintf(a.out, "%s\n", b)
		return
	}
	var d struct {
		State        record.State        `json:"state"`
		SolverStatus record.SolverStatus `json:"solver_status"`
		Attempt      int                 `json:"attempt"`
		Progress     *float64            `json:"progress"`
		Message      string              `json:"message"`
		Objective    *float64            `json:"objective"`
	}
	_ = json.Unmarshal(ev.Data, &d)
	sl.update(func() string {
		switch ev.Type {
		case "status":
			if d.State == "" {
				return ""
			}
			sl.state = d.State
			if d.Progress != nil {
				sl.progress = *d.Progress
			}
			line := "state " + string(d.State)
			if d.Attempt > 0 {
				line += fmt.Sprintf(" (attempt %d)", d.Attempt)
			}
			if d.SolverStatus != "" {
				line += ", solver status " + string(d.SolverStatus)
			}
			return line
		case "progress":
			if d.Progress != nil {
				sl.progress = *d.Progress
			}
			sl.message = d.Message
			return strings.TrimSpace(fmt.Sprintf("progress %.0f%% %s", 100*sl.progress, d.Message))
		case "incumbent":
			sl.objective = d.Objective
			return "incumbent, objective " + num(d.Objective)
		}
		return ""
	})
}

// statusLine is the last line of a followed execution on a terminal: its
// state, progress bar, objective, message and elapsed time, redrawn in
// place. Off a terminal (live false) each change is a plain line instead.
type statusLine struct {
	mu        sync.Mutex
	w         io.Writer
	live      bool
	shown     bool
	start     time.Time
	state     record.State
	progress  float64
	message   string
	objective *float64
}

// above prints something (a log line) above the status line.
func (s *statusLine) above(print func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erase()
	print()
	s.draw()
}

// update applies an event by change, which returns the plain line that
// says what changed ("" for nothing to say).
func (s *statusLine) update(change func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := change()
	if !s.live {
		if line != "" {
			fmt.Fprintln(s.w, line)
		}
		return
	}
	s.draw()
}

// tick redraws the line every d (for the elapsed time) until stop.
func (s *statusLine) tick(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.mu.Lock()
				s.draw()
				s.mu.Unlock()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// clear erases the status line for good.
func (s *statusLine) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erase()
	s.live = false
}

func (s *statusLine) erase() {
	if s.live && s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.shown = false
	}
}

func (s *statusLine) draw() {
	if !s.live {
		return
	}
	fmt.Fprint(s.w, "\r\x1b[K"+s.text())
	s.shown = true
}

// barWidth is the width of the status line's progress bar in cells.
const barWidth = 20

// text is the status line.
func (s *statusLine) text() string {
	state := string(s.state)
	if state == "" {
		state = "waiting"
	}
	filled := int(s.progress*barWidth + 0.5)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
	parts := []string{fmt.Sprintf("%-9s %s %3.0f%%", state, bar, 100*s.progress)}
	if s.objective != nil {
		parts = append(parts, "objective "+num(s.objective))
	}
	if s.message != "" {
		msg := s.message
		if len(msg) > 40 {
			msg = msg[:39] + "…"
		}
		parts = append(parts, msg)
	}
	parts = append(parts, time.Since(s.start).Round(time.Second).String())
	line := []rune(strings.Join(parts, "  "))
	if len(line) > maxLine {
		// A wrapped line could not be redrawn in place.
		line = append(line[:maxLine-1], '…')
	}
	return string(line)
}

// maxLine is the longest status line, in characters: narrower than a
// classic 80-column terminal.
const maxLine = 79
