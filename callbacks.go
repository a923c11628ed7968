package solvekit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// Callbacks (SubmitRequest.ResultURL). When an execution with a result
// URL reaches a terminal state, the script that writes the state also
// schedules its delivery in Redis (internal/store/callbacks.go), so that
// it is sent whichever process ended the execution (a worker, a cancel,
// the sweeper) and survives restarts. Every Service runs a delivery loop
// (unless Config.DisableCallbacks): it claims due deliveries for the
// length of one attempt and a margin, POSTs, records the attempt (see
// Callbacks) and reschedules a failed one with Config.CallbackBackoff
// until Config.CallbackMaxAge has passed since the execution ended.
// Delivery is at least once: a process that dies after the receiver
// answered but before recording it lets another send it again, with the
// same Solvekit-Delivery header.

// Callback headers.
const (
	// CallbackSignatureHeader carries "t=<unix seconds>,v1=<hex
	// HMAC-SHA256(Config.CallbackSecret, t + "." + body)>" (VerifyCallback
	// checks it).
	CallbackSignatureHeader = "Solvekit-Signature"
	// CallbackDeliveryHeader identifies the delivery, "<execution
	// id>:<execution attempt>": the same on every retry of one end of one
	// execution, so that receivers can drop duplicates.
	CallbackDeliveryHeader = "Solvekit-Delivery"
)

// callbackBodyLimit is how much of a receiver's answer is read.
const callbackBodyLimit = 4 << 10

// ErrCallbackSignature is returned by VerifyCallback when the signature
// does not match, is missing or is too old.
var ErrCallbackSignature = errors.New("solvekit: callback signature invalid")

// errCallbackRefused says that the callback's address is one the SSRF
// guard refuses.
var errCallbackRefused = errors.New("address refused: loopback, private, link-local, unspecified or metadata (see Config.CallbackAllowPrivate)")

// CallbackFormatter builds a callback in a format other than solvekit's
// own, for execution e (terminal) of service s: its body and the headers
// to send with it (Content-Type default application/json). auth is the
// submit's CallbackAuthorization, which solvekit's own format sends as
// the Authorization header and a formatter places as its format wants.
type CallbackFormatter func(ctx context.Context, s *Service, e *job.Execution, auth string) (body []byte, header http.Header, err error)

var callbackFormats sync.Map // name → CallbackFormatter

// RegisterCallbackFormat makes a callback format known to every Service
// of this process under name (SubmitRequest.CallbackFormat), typically
// from an init function: transport/ckanapi registers "ckan". A process
// delivers only the formats it knows; a delivery in a format it does not
// know is left to the processes that do (and fails past
// Config.CallbackMaxAge when none does). Registering a name twice panics.
func RegisterCallbackFormat(name string, f CallbackFormatter) {
	if name == "" || f == nil {
		panic("solvekit: RegisterCallbackFormat with an empty name or nil formatter")
	}
	if _, dup := callbackFormats.LoadOrStore(name, f); dup {
		panic("solvekit: callback format " + name + " registered twice")
	}
}

func (c *Config) setCallbackDefaults() {
	positiveOr(&c.CallbackTimeout, 10*time.Second)
	positiveOr(&c.CallbackMaxAge, 24*time.Hour)
	if c.CallbackBackoff == nil {
		c.CallbackBackoff = func(n int) time.Duration {
			return min(time.Second<<min(n-1, 10), 10*time.Minute)
		}
	}
	positiveOr(&c.CallbackInterval, time.Second)
}

// callbackFields are the record fields of req's callback.
func callbackFields(req SubmitRequest) []store.Field {
	if req.ResultURL == "" {
		return nil
	}
	return store.CallbackFields(req.CallbackFormat, req.CallbackAuthorization)
}

// prepareCallback checks req's callback and sets e's ResultURL.
func (s *Service) prepareCallback(req SubmitRequest, e *job.Execution) error {
	if req.ResultURL == "" {
		if req.CallbackFormat != "" || req.CallbackAuthorization != "" {
			return invalidCallback("/result_url", "required", "a callback format or authorization needs a result_url")
		}
		return nil
	}
	if err := CheckResultURL(req.ResultURL); err != nil {
		return err
	}
	if req.CallbackFormat == "" && len(s.cfg.CallbackSecret) == 0 {
		return invalidCallback("/result_url", "callback", "this service signs no callbacks (Config.CallbackSecret is not set), so it accepts no result_url")
	}
	if req.CallbackFormat != "" {
		if _, ok := callbackFormats.Load(req.CallbackFormat); !ok {
			return invalidCallback("/callback_format", "enum", fmt.Sprintf("unknown callback format %q", req.CallbackFormat))
		}
	}
	e.ResultURL = req.ResultURL
	return nil
}

// CheckResultURL tells whether u may be a result URL: an absolute http or
// https URL with a host, at most 2048 bytes. It answers a CodeInvalid
// error when not. Its address is checked when the callback is sent.
func CheckResultURL(u string) error {
	p, err := url.Parse(u)
	switch {
	case len(u) > 2048:
		return invalidCallback("/result_url", "maxLength", "a result_url is at most 2048 bytes")
	case err != nil || !p.IsAbs() || p.Host == "" || p.Hostname() == "":
		return invalidCallback("/result_url", "format", "a result_url is an absolute http or https URL")
	case p.Scheme != "http" && p.Scheme != "https":
		return invalidCallback("/result_url", "format", "a result_url's scheme is http or https")
	}
	return nil
}

func invalidCallback(pointer, keyword, msg string) error {
	return &job.Error{Code: job.CodeInvalid, Message: msg,
		Violations: []job.Violation{{Pointer: pointer, Keyword: keyword, Message: msg}}}
}

// Callbacks returns the attempts made to deliver execution id's
// callbacks, oldest first (at most the last 1,000). The execution's
// CallbackState and CallbackAttempts summarise them. They are deleted
// with the execution.
func (s *Service) Callbacks(ctx context.Context, id string) ([]job.CallbackAttempt, error) {
	out, err := s.store.Callbacks(ctx, id)
	return out, store.Classify(err)
}

// SignCallback returns the Solvekit-Signature header value of body sent at
// t with secret: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.body)>".
func SignCallback(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + callbackMAC(secret, ts, body)
}

func callbackMAC(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyCallback checks a callback's Solvekit-Signature header against
// its body and the shared secret (Config.CallbackSecret), and that it was
// signed at most tolerance ago (or ahead; 0 skips the check). It returns
// nil or an error wrapping ErrCallbackSignature. Receivers call it on the
// raw body, before decoding it.
func VerifyCallback(secret []byte, header string, body []byte, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: malformed header", ErrCallbackSignature)
	}
	if tolerance > 0 {
		if d := time.Since(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed %s ago, more than the tolerance", ErrCallbackSignature, d.Round(time.Second))
		}
	}
	want := callbackMAC(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching signature", ErrCallbackSignature)
}

// callbackClient is the HTTP client of deliveries: no proxy, no
// redirects, and a dialer that refuses the addresses the guard refuses.
func (s *Service) callbackClient() *http.Client {
	d := &net.Dialer{Timeout: s.cfg.CallbackTimeout, Control: s.guardDial}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   s.cfg.CallbackTimeout,
		ResponseHeaderTimeout: s.cfg.CallbackTimeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: s.cfg.CallbackTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// guardDial is the callback dialer's Control: it runs on the address
// about to be connected (after name resolution), so a name that resolves
// to a refused address is refused too, whatever it resolved to before.
func (s *Service) guardDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if !s.callbackAddrAllowed(ip.Unmap()) {
		return fmt.Errorf("%s: %w", ip, errCallbackRefused)
	}
	return nil
}

// refusedNets are refused beside what netip's predicates name: carrier
// NAT (some clouds' metadata endpoints live there), "this network", and
// the IPv4 benchmarking and reserved ranges.
var refusedNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

// callbackAddrAllowed tells whether a callback may connect to ip.
func (s *Service) callbackAddrAllowed(ip netip.Addr) bool {
	if s.cfg.CallbackAllowPrivate {
		return true
	}
	for _, p := range s.cfg.CallbackAllowedNets {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false // IsLinkLocalUnicast covers 169.254.169.254; IsPrivate fc00::/7
	}
	for _, p := range refusedNets {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// callbackLoop delivers due callbacks until ctx ends: every
// CallbackInterval it claims as many as it has free senders (at most
// callbackSenders attempts run at once) and sends each on its own
// goroutine. It claims no more than it can send at once, so that no claim
// runs out while its delivery waits for a sender.
func (s *Service) callbackLoop(ctx context.Context) {
	if s.cfg.DisableCallbacks {
		return
	}
	client := s.callbackClient()
	defer client.CloseIdleConnections()
	// A claim lasts one attempt, the reading of the record and the body's
	// building, and a margin.
	lease := s.cfg.CallbackTimeout + 30*time.Second
	var inflight atomic.Int32
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(s.cfg.CallbackInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := s.cfg.CallbackInterval
		if free := callbackSenders - int(inflight.Load()); free > 0 {
			now := nowUTC()
			ids, err := s.store.ClaimCallbacks(ctx, now, now.Add(lease), free)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("solvekit: claiming callbacks failed", "err", err)
			}
			for _, id := range ids {
				inflight.Add(1)
				wg.Add(1)
				go func() {
					defer func() { inflight.Add(-1); wg.Done() }()
					s.deliverCallback(ctx, client, id)
				}()
			}
			if len(ids) == free {
				next = min(next, 10*time.Millisecond) // a backlog: claim again as soon as senders free up
			}
		}
		timer.Reset(next)
	}
}

// callbackSenders is how many callback attempts one Service makes at once.
const callbackSenders = 8

// deliverCallback makes one attempt at execution id's claimed callback and
// records it.
func (s *Service) deliverCallback(ctx context.Context, client *http.Client, id string) {
	t, err := s.store.CallbackTarget(ctx, id)
	if err == nil && !t.Execution.State.Terminal() {
		err = job.ErrNotFound // relaunched: its next end schedules a new delivery
	}
	if err != nil {
		if errors.Is(err, job.ErrNotFound) {
			err = s.store.DropCallback(ctx, id)
		}
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("solvekit: callback not sent", "execution", id, "err", err)
		}
		return
	}
	e := t.Execution
	var f CallbackFormatter
	if t.Format != "" {
		v, ok := callbackFormats.Load(t.Format)
		if !ok {
			s.postponeUnknownFormat(ctx, t)
			return
		}
		f = v.(CallbackFormatter)
	}
	start := nowUTC()
	a := job.CallbackAttempt{Delivery: id + ":" + strconv.Itoa(e.Attempt), N: t.N + 1, Time: start}
	code, sendErr := s.sendCallback(ctx, client, t, f, a.Delivery)
	if ctx.Err() != nil {
		return // closing: the claim runs out and another process sends it
	}
	a.StatusCode, a.DurationMS = code, time.Since(start).Milliseconds()
	final, next := job.CallbackDelivered, time.Time{}
	if sendErr != nil {
		a.Error = sendErr.Error()
		final = job.CallbackFailed
		first := t.First
		if first.IsZero() {
			first = start
		}
		if at := nowUTC().Add(s.cfg.CallbackBackoff(a.N)); !errors.Is(sendErr, errCallbackRefused) && at.Sub(first) <= s.cfg.CallbackMaxAge {
			next = at
		}
	}
	if err := s.store.RecordCallback(ctx, id, e.Attempt, a, final, next); err != nil && ctx.Err() == nil {
		s.cfg.Logger.Warn("solvekit: recording a callback attempt failed", "execution", id, "err", err)
	}
	if s.signalled() {
		outcome := CallbackOutcomeDelivered
		switch {
		case sendErr != nil && !next.IsZero():
			outcome = CallbackOutcomeRetry
		case sendErr != nil:
			outcome = CallbackOutcomeFailed
		}
		s.signal(Signal{Kind: SignalCallback, ID: id, JobType: e.JobType, Outcome: outcome, StatusCode: code,
			Duration: time.Duration(a.DurationMS) * time.Millisecond, Err: sendErr})
	}
	if sendErr != nil {
		s.cfg.Logger.Debug("solvekit: callback attempt failed", "execution", id, "attempt", a.N, "err", sendErr, "retry", !next.IsZero())
	}
}

// postponeUnknownFormat leaves a delivery in a format this process does
// not know to the processes that know it, or ends it failed past the
// maximum age.
func (s *Service) postponeUnknownFormat(ctx context.Context, t *store.CallbackTarget) {
	e := t.Execution
	if !t.First.IsZero() && nowUTC().Sub(t.First) > s.cfg.CallbackMaxAge {
		a := job.CallbackAttempt{Delivery: e.ID + ":" + strconv.Itoa(e.Attempt), N: t.N + 1, Time: nowUTC(),
			Error: fmt.Sprintf("no process knows callback format %q", t.Format)}
		_ = s.store.RecordCallback(ctx, e.ID, e.Attempt, a, job.CallbackFailed, time.Time{})
		s.signal(Signal{Kind: SignalCallback, ID: e.ID, JobType: e.JobType, Outcome: CallbackOutcomeFailed,
			Err: errors.New(a.Error)})
		return
	}
	s.cfg.Logger.Debug("solvekit: callback format unknown here; left to other processes", "execution", e.ID, "format", t.Format)
}

// sendCallback POSTs one attempt of t's callback (format f; nil for solvekit's
// own) and returns the receiver's status, with an error unless 2xx.
func (s *Service) sendCallback(ctx context.Context, client *http.Client, t *store.CallbackTarget, f CallbackFormatter, delivery string) (int, error) {
	e := t.Execution
	var body []byte
	header := http.Header{}
	var err error
	if f == nil {
		body, err = json.Marshal(struct {
			*job.Execution
			TimeoutSeconds float64 `json:"timeout_seconds"`
		}{e, e.TimeoutSeconds()}) // as GET /executions/{id} shows it
		if t.Auth != "" {
			header.Set("Authorization", t.Auth)
		}
	} else {
		var h http.Header
		body, h, err = f(ctx, s, e, t.Auth)
		for k, v := range h {
			header[k] = v
		}
	}
	if err != nil {
		return 0, fmt.Errorf("building the body: %w", err)
	}
	if err := CheckResultURL(e.ResultURL); err != nil {
		return 0, fmt.Errorf("%w: %v", errCallbackRefused, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.ResultURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = header
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "solvekit/"+Version)
	req.Header.Set(CallbackDeliveryHeader, delivery)
	if len(s.cfg.CallbackSecret) > 0 {
		req.Header.Set(CallbackSignatureHeader, SignCallback(s.cfg.CallbackSecret, time.Now(), body))
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the execution's own; the cause is enough
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, callbackBodyLimit))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
