package solvekit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// Submitted is SubmitOnce's answer.
type Submitted struct {
	// Execution is the execution the request created, or, on a replay, the
	// one the first request with its idempotency key created.
	Execution *job.Execution
	// Replayed says that the request repeated an earlier one (same
	// IdempotencyKey and Owner): nothing new was created.
	Replayed bool
}

// claimSettle is how long a claim may name an execution that does not
// exist yet: the submit that claimed it is still writing it. An older claim
// whose execution is missing is stale (that submit died, or the execution
// was deleted since) and the next submit with the key takes it over.
var claimSettle = 30 * time.Second

// SubmitOnce is Submit that also tells whether the request was a replay of
// an earlier one with the same IdempotencyKey. Without a key it is Submit.
//
// The first submit with a key claims it in Redis, atomically, before it
// stores anything, so that of any number of concurrent submits with one key
// exactly one creates an execution; the others wait (bounded by ctx) until
// it exists and return it with Replayed set. A repeat after an ambiguous
// error (job.ErrOutcomeUnknown) thus returns the execution if the first
// attempt stored it, and creates it if not.
//
//	r, err := svc.SubmitOnce(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: in, IdempotencyKey: orderID})
//	if err == nil && r.Replayed {
//		log.Printf("order %s was already submitted as %s", orderID, r.Execution.ID)
//	}
func (s *Service) SubmitOnce(ctx context.Context, req SubmitRequest) (Submitted, error) {
	if req.IdempotencyKey == "" {
		e, err := s.Submit(ctx, req)
		return Submitted{Execution: e}, err
	}
	ctx, end := s.startCall(ctx, Call{Op: "submit", JobType: req.JobType, ID: req.ID})
	r, err := s.submitOnce(ctx, req)
	endCall(end, r.Execution, err, r.Replayed)
	return r, err
}

// submitOnce is SubmitOnce with a key, without its CallHooks.
func (s *Service) submitOnce(ctx context.Context, req SubmitRequest) (Submitted, error) {
	if len(req.IdempotencyKey) > 255 {
		return Submitted{}, job.Errorf(job.CodeInvalid, "an idempotency key is at most 255 bytes")
	}
	t, e, input, err := s.prepare(ctx, req)
	if err != nil {
		return Submitted{}, store.Classify(err)
	}
	fp := fingerprint(req)
	claim := e.ID + " " + fp + " " + strconv.FormatInt(time.Now().UnixMilli(), 10)
	replace := ""
	for {
		holder, claimed, err := s.store.ClaimIdempotency(ctx, req.Owner, req.IdempotencyKey, claim, replace, s.cfg.IdempotencyWindow)
		if err != nil {
			return Submitted{}, store.Classify(err)
		}
		if claimed {
			out, err := s.submitPrepared(ctx, t, e, input, req)
			if err != nil && !errors.Is(err, job.ErrOutcomeUnknown) {
				// Nothing was stored: the next submit with the key may try.
				_ = s.store.ReleaseIdempotency(context.WithoutCancel(ctx), req.Owner, req.IdempotencyKey, claim)
			}
			return Submitted{Execution: out}, err
		}
		id, hfp, at, ok := parseClaim(holder)
		if !ok {
			return Submitted{}, fmt.Errorf("solvekit: unreadable idempotency claim %q", holder)
		}
		if hfp != fp {
			return Submitted{}, &job.Error{Code: job.CodeInvalid,
				Message: "the idempotency key was used with a different request; use a new key for a new request"}
		}
		first, err := s.awaitClaimed(ctx, id, at)
		if err != nil {
			return Submitted{}, err
		}
		if first != nil {
			// With Config.Durability, a replay acknowledges the first
			// submit's write only once the replicas have it too.
			if err := s.store.AwaitReplicas(ctx); err != nil {
				return Submitted{Execution: first, Replayed: true}, store.Classify(err)
			}
			return Submitted{Execution: first, Replayed: true}, nil
		}
		replace = holder // stale: its execution was never stored, or is gone
	}
}

// awaitClaimed returns the execution a claim made at `at` names, waiting
// while the claim is young enough that its submit may still be writing it.
// It returns nil when the claim is stale.
func (s *Service) awaitClaimed(ctx context.Context, id string, at time.Time) (*job.Execution, error) {
	delay := 2 * time.Millisecond
	for {
		e, err := s.Get(ctx, id)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, job.ErrNotFound) {
			return nil, err
		}
		if time.Since(at) > claimSettle {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, &job.Error{Code: job.CodeUnavailable, Err: ctx.Err(),
				Message: fmt.Sprintf("execution %s, submitted with this idempotency key, is still being stored", id)}
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// parseClaim splits a claim "<id> <fingerprint> <unix ms>".
func parseClaim(c string) (id, fp string, at time.Time, ok bool) {
	f := strings.Fields(c)
	if len(f) != 3 {
		return "", "", time.Time{}, false
	}
	ms, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return "", "", time.Time{}, false
	}
	return f[0], f[1], time.UnixMilli(ms), true
}

// fingerprint hashes what a request asks for, so that a repeat can be told
// from another request under the same key. JSON documents count by their
// compact form (white space aside); JobKey does not count (the REST layer
// makes a new one per request).
func fingerprint(req SubmitRequest) string {
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	doc := func(raw json.RawMessage) {
		var c bytes.Buffer
		if json.Compact(&c, raw) != nil {
			c.Reset()
			c.Write(raw)
		}
		put(c.Bytes())
	}
	for _, f := range []string{req.JobType, req.InstanceID, req.Solver, req.Name, req.Owner, req.Queue, req.ID,
		req.Timeout.String()} {
		put([]byte(f))
	}
	doc(req.Instance)
	doc(req.Config)
	if len(req.Tags)+len(req.RequireTags) > 0 {
		// Only then, so that a fingerprint without tags reads as before.
		put([]byte("tags:" + strings.Join(req.Tags, ",")))
		put([]byte(strings.Join(req.RequireTags, ",")))
	}
	for _, k := range slices.Sorted(maps.Keys(req.Metadata)) {
		put([]byte(k))
		put([]byte(req.Metadata[k]))
	}
	// A callback is part of the request; left out when absent, so that
	// the keys of requests without one keep their fingerprints.
	if req.ResultURL != "" {
		put([]byte("result_url\x00" + req.ResultURL + "\x00" + req.CallbackFormat))
	}
	return hex.EncodeToString(h.Sum(nil))
}
