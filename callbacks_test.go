package solvekit_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

var cbSecret = []byte("test-callback-secret")

// receiver is a callback receiver: it records each request and answers
// with the status its plan gives the n-th request (200 past the plan).
type receiver struct {
	mu   sync.Mutex
	reqs []received
	plan []int
	srv  *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, plan ...int) *receiver {
	r := &receiver{plan: plan}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.reqs)
		r.reqs = append(r.reqs, received{req.Header.Clone(), b})
		code := http.StatusOK
		if n < len(r.plan) {
			code = r.plan[n]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// cbConfig is a service config that delivers callbacks promptly to
// loopback receivers.
func cbConfig() solvekit.Config {
	return solvekit.Config{CallbackSecret: cbSecret, CallbackAllowPrivate: true,
		CallbackInterval: 20 * time.Millisecond,
		CallbackBackoff:  func(int) time.Duration { return 20 * time.Millisecond }}
}

// waitCallback waits until execution id's callback delivery is no longer
// pending and returns the record.
func waitCallback(t *testing.T, svc *solvekit.Service, id string) *job.Execution {
	t.Helper()
	var e *job.Execution
	require.Eventually(t, func() bool {
		var err error
		e, err = svc.Get(context.Background(), id)
		require.NoError(t, err)
		return e.CallbackState == job.CallbackDelivered || e.CallbackState == job.CallbackFailed
	}, patience.Scale(20*time.Second), 10*time.Millisecond, "callback of %s still pending", id)
	return e
}

// callbackRun runs a sum execution whose result_url is rcv's, on a
// Service with cbConfig changed by tweak (when not nil).
func callbackRun(t *testing.T, rcv *receiver, tweak func(*solvekit.Config)) (*bundle, *job.Execution) {
	t.Helper()
	cfg := cbConfig()
	if tweak != nil {
		tweak(&cfg)
	}
	b := setup(t, setupOpts{cfg: cfg, defs: []*job.Definition{sumJob()}})
	return b, run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: rcv.srv.URL})
}

// waitAttempts waits until execution id has n callback attempts.
func waitAttempts(t *testing.T, b *bundle, id string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		atts, err := b.svc.Callbacks(context.Background(), id)
		return err == nil && len(atts) == n
	}, patience.Scale(20*time.Second), 10*time.Millisecond)
}

func TestCallbackNativeSigned(t *testing.T) {
	rcv := newReceiver(t)
	b := setup(t, setupOpts{cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	e := run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: rcv.srv.URL + "/hook"})
	require.Equal(t, rcv.srv.URL+"/hook", e.ResultURL)
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Equal(t, 1, e.CallbackAttempts)

	got := rcv.got()
	require.Len(t, got, 1)
	r := got[0]
	require.NoError(t, solvekit.VerifyCallback(cbSecret, r.header.Get("Solvekit-Signature"), r.body, 5*time.Minute))
	require.ErrorIs(t, solvekit.VerifyCallback([]byte("other"), r.header.Get("Solvekit-Signature"), r.body, 5*time.Minute),
		solvekit.ErrCallbackSignature)
	require.ErrorIs(t, solvekit.VerifyCallback(cbSecret, r.header.Get("Solvekit-Signature"), append(r.body, ' '), 0),
		solvekit.ErrCallbackSignature)
	require.Equal(t, e.ID+":1", r.header.Get("Solvekit-Delivery"))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Empty(t, r.header.Get("Authorization"))
	var body job.Execution
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.Equal(t, e.ID, body.ID)
	require.Equal(t, job.StateSucceeded, body.State)

	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Equal(t, 200, atts[0].StatusCode)
	require.Empty(t, atts[0].Error)
	require.Equal(t, e.ID+":1", atts[0].Delivery)
}

func TestCallbackRetriesThenDelivered(t *testing.T) {
	rcv := newReceiver(t, 500, 500)
	b, e := callbackRun(t, rcv, nil)
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Equal(t, 3, e.CallbackAttempts)
	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 3)
	for i, want := range []int{500, 500, 200} {
		require.Equal(t, want, atts[i].StatusCode, "attempt %d", i+1)
		require.Equal(t, i+1, atts[i].N)
		require.Equal(t, e.ID+":1", atts[i].Delivery)
	}
	require.Contains(t, atts[0].Error, "500")
	got := rcv.got()
	require.Len(t, got, 3)
	for _, r := range got {
		require.Equal(t, e.ID+":1", r.header.Get("Solvekit-Delivery"), "every retry carries the same delivery id")
	}
}

func TestCallbackGivesUpAfterMaxAge(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackMaxAge = time.Millisecond // the first failure is the last
	})
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackFailed, e.CallbackState)
	require.Equal(t, 1, e.CallbackAttempts)
	require.Len(t, rcv.got(), 1)
}

func TestCallbackRefusesPrivateAddress(t *testing.T) {
	rcv := newReceiver(t)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackAllowPrivate = false
	})
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackFailed, e.CallbackState, "a refused address is not retried")
	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Zero(t, atts[0].StatusCode)
	require.Contains(t, atts[0].Error, "refused")
	require.Empty(t, rcv.got(), "no request reaches a refused address")

	// A name that resolves to loopback is refused too (the check runs on
	// the dialled address).
	e2 := run(t, b, solvekit.SubmitRequest{JobType: "sum", ResultURL: "http://localhost:" + port(rcv.srv.URL)})
	e2 = waitCallback(t, b.svc, e2.ID)
	require.Equal(t, job.CallbackFailed, e2.CallbackState)
	require.Empty(t, rcv.got())
}

func TestCallbackAddressGuard(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, cfg: solvekit.Config{
		CallbackAllowedNets: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}})
	for addr, ok := range map[string]bool{
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.3.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd00:ec2::254": false,
		"0.0.0.0": false, "::": false, "100.100.100.200": false, "::ffff:127.0.0.1": false,
		"10.9.1.2": true, "8.8.8.8": true, "2001:4860:4860::8888": true, "93.184.216.34": true,
	} {
		require.Equal(t, ok, solvekit.CallbackAddrAllowed(b.svc, netip.MustParseAddr(addr).Unmap()), addr)
	}
}

func TestCallbackSubmitValidation(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}}) // no CallbackSecret
	in := json.RawMessage(`{"values":[1]}`)
	_, err := b.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, ResultURL: "https://example.com/x"})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "a native callback needs a secret to be signed with")
	require.Contains(t, err.Error(), "CallbackSecret")

	b2 := setup(t, setupOpts{noWork: true, cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	for _, u := range []string{"ftp://example.com/x", "/relative", "example.com/x", "http://", "javascript:alert(1)"} {
		_, err := b2.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, ResultURL: u})
		require.Equal(t, job.CodeInvalid, job.ErrorCode(err), u)
	}
	_, err = b2.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, ResultURL: "https://example.com/x", CallbackFormat: "nope"})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
	_, err = b2.svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: "sum", Instance: in, CallbackAuthorization: "k"})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))
}

// A queued execution stopped by a cancel ends in the cancel script: its
// callback is scheduled there, and carries the stopped state.
func TestCallbackOnCancelOfQueued(t *testing.T) {
	rcv := newReceiver(t)
	b := setup(t, setupOpts{noWork: true, cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1]}`), ResultURL: rcv.srv.URL})
	require.NoError(t, err)
	require.Empty(t, e.CallbackState)
	require.NoError(t, b.svc.Cancel(ctx, e.ID))
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	got := rcv.got()
	require.Len(t, got, 1)
	var body job.Execution
	require.NoError(t, json.Unmarshal(got[0].body, &body))
	require.Equal(t, job.StateStopped, body.State)
}

// A delivery is stored in Redis: a process that ends an execution without
// delivering (here one with callbacks disabled, as if it died) leaves it
// to the next one.
func TestCallbackSurvivesRestart(t *testing.T) {
	rcv := newReceiver(t)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.DisableCallbacks = true
	})
	require.Equal(t, job.CallbackPending, e.CallbackState)
	require.Empty(t, rcv.got())

	cfg2 := cbConfig()
	cfg2.Redis, cfg2.Logger = b.rdb, b.svc2Logger()
	svc2, err := solvekit.New(context.Background(), cfg2)
	require.NoError(t, err)
	defer svc2.Close()
	e = waitCallback(t, svc2, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Len(t, rcv.got(), 1)
}

// Deleting an execution removes its callback attempts and its entry in
// the due set.
func TestCallbackDeletedWithExecution(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackBackoff = func(int) time.Duration { return time.Hour }
	})
	waitAttempts(t, b, e.ID, 1)
	require.NoError(t, b.svc.Delete(context.Background(), e.ID))
	require.Empty(t, footprint(t, b.rdb, e.ID))
	_, err := b.svc.Callbacks(context.Background(), e.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
}

// port is the port of URL u.
func port(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	return p.Port()
}

// A relaunched execution that ends again gets a new delivery, with the
// next delivery id.
func TestCallbackAfterRelaunch(t *testing.T) {
	rcv := newReceiver(t)
	b, e := callbackRun(t, rcv, nil)
	waitCallback(t, b.svc, e.ID)
	_, err := b.svc.Relaunch(context.Background(), e.ID, solvekit.RelaunchRequest{})
	require.NoError(t, err)
	waitFor(t, b, e.ID, 10*time.Second)
	require.Eventually(t, func() bool { return len(rcv.got()) == 2 }, patience.Scale(20*time.Second), 10*time.Millisecond)
	got := rcv.got()
	require.Equal(t, e.ID+":1", got[0].header.Get("Solvekit-Delivery"))
	require.Equal(t, e.ID+":2", got[1].header.Get("Solvekit-Delivery"))
	e = waitCallback(t, b.svc, e.ID)
	require.Equal(t, job.CallbackDelivered, e.CallbackState)
	require.Equal(t, 1, e.CallbackAttempts, "attempts of the current delivery")
	atts, err := b.svc.Callbacks(context.Background(), e.ID)
	require.NoError(t, err)
	require.Len(t, atts, 2, "the log keeps both deliveries")
}

// The retention sweep removes an expired execution's callback attempts
// and its pending delivery with it.
func TestCallbackRemovedByRetention(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	b, e := callbackRun(t, rcv, func(cfg *solvekit.Config) {
		cfg.CallbackBackoff = func(int) time.Duration { return time.Hour }
		cfg.DisableRetention = false
	})
	waitAttempts(t, b, e.ID, 1)
	require.NotEmpty(t, footprint(t, b.rdb, e.ID))
	n, _, _, err := solvekit.RetentionSweeper(b.svc)(time.Now().Add(8 * 24 * time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, footprint(t, b.rdb, e.ID), "nothing of the execution is left, its callbacks included")
}

// Executions submitted together (SubmitMany) keep their callbacks, with
// their own authorization.
func TestCallbackSubmitMany(t *testing.T) {
	rcv := newReceiver(t)
	b := setup(t, setupOpts{cfg: cbConfig(), defs: []*job.Definition{sumJob()}})
	in := json.RawMessage(`{"values":[1]}`)
	es, err := b.svc.SubmitMany(context.Background(), []solvekit.SubmitRequest{
		{JobType: "sum", Instance: in, ResultURL: rcv.srv.URL, CallbackAuthorization: "key-1"},
		{JobType: "sum", Instance: in, ResultURL: rcv.srv.URL, CallbackAuthorization: "key-2"},
		{JobType: "sum", Instance: in},
	})
	require.NoError(t, err)
	for _, e := range es[:2] {
		require.Equal(t, job.CallbackDelivered, waitCallback(t, b.svc, e.ID).CallbackState)
	}
	auth := map[string]string{}
	for _, r := range rcv.got() {
		var e job.Execution
		require.NoError(t, json.Unmarshal(r.body, &e))
		auth[e.ID] = r.header.Get("Authorization")
	}
	require.Equal(t, map[string]string{es[0].ID: "key-1", es[1].ID: "key-2"}, auth)
	e := waitFor(t, b, es[2].ID, 10*time.Second)
	require.Empty(t, e.CallbackState)
}
