package solvekit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/solvekit/solvekit/internal/store"
)

// logSink buffers a running attempt's log records and writes them to the
// store in batches (every 100 ms, or at 256 records), so that logging in a
// tight loop does not cost a round trip per record while the log stays
// readable as the job runs. close flushes what is left.
type logSink struct {
	s       *Service
	id      string
	attempt int

	mu      sync.Mutex
	buf     []store.LogRecord
	kick    chan struct{} // kick, done and exited are made with started
	done    chan struct{}
	exited  chan struct{} // closed when loop returns
	closed  bool
	started bool // the flush loop runs (from the first record on)
}

const logBatch = 256

func newLogSink(s *Service, id string, attempt int) *logSink {
	// The flush loop and its channels start with the first record: most
	// short jobs never log, and then cost no goroutine, ticker or channel.
	return &logSink{s: s, id: id, attempt: attempt}
}

func (l *logSink) logger() *slog.Logger { return slog.New(&logHandler{sink: l}) }

func (l *logSink) add(r store.LogRecord) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		// A job goroutine abandoned after its stop grace may still log:
		// store it directly rather than lose it.
		_ = l.s.store.AppendLogs(context.Background(), l.id, []store.LogRecord{r})
		return
	}
	l.buf = append(l.buf, r)
	full := len(l.buf) >= logBatch
	if !l.started {
		l.started = true
		l.kick, l.done, l.exited = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go l.loop()
	}
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

func (l *logSink) loop() {
	defer close(l.exited)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			l.flush()
			return
		case <-t.C:
		case <-l.kick:
		}
		l.flush()
	}
}

func (l *logSink) flush() {
	l.mu.Lock()
	recs := l.buf
	l.buf = nil
	l.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	if err := l.s.store.AppendLogs(context.Background(), l.id, recs); err != nil {
		l.s.cfg.Logger.Warn("solvekit: job log records not stored", "execution", l.id, "records", len(recs), "err", err)
	}
}

// close flushes and stops the sink; later records are written directly.
func (l *logSink) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	started := l.started
	l.mu.Unlock()
	if !started {
		return // nothing was logged
	}
	// Records added before closed was set are in buf; the loop flushes
	// them on done. Wait until it has: the attempt's end is recorded only
	// after its log is stored, so whoever sees the end sees the whole log.
	close(l.done)
	<-l.exited
}

// logHandler is the slog.Handler behind a job's Logger.
type logHandler struct {
	sink   *logSink
	attrs  []slog.Attr
	groups []string
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	rec := store.LogRecord{Time: r.Time, Level: r.Level.String(), Message: r.Message, Attempt: h.sink.attempt}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	n := len(h.attrs) + r.NumAttrs()
	if n > 0 {
		rec.Attrs = make(map[string]any, n)
		for _, a := range h.attrs {
			addAttr(rec.Attrs, "", a)
		}
		prefix := groupPrefix(h.groups)
		r.Attrs(func(a slog.Attr) bool {
			addAttr(rec.Attrs, prefix, a)
			return true
		})
	}
	h.sink.add(rec)
	return nil
}

func groupPrefix(groups []string) string {
	p := ""
	for _, g := range groups {
		p += g + "."
	}
	return p
}

func addAttr(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range v.Group() {
			addAttr(m, p, ga)
		}
		return
	}
	if a.Key == "" {
		return
	}
	switch v.Kind() {
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			m[prefix+a.Key] = err.Error()
			return
		}
		m[prefix+a.Key] = v.Any()
	case slog.KindDuration:
		m[prefix+a.Key] = v.Duration().String()
	case slog.KindTime:
		m[prefix+a.Key] = v.Time()
	default:
		m[prefix+a.Key] = v.Any()
	}
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	prefix := groupPrefix(h.groups)
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		a.Key = prefix + a.Key
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(append([]string(nil), h.groups...), name)
	return &h2
}
