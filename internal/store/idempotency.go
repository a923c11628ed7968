package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	idemClaimScript   = script("idem_claim")
	idemReleaseScript = script("idem_release")
)

// idem is the key of an idempotency key's claim: the caller's key, hashed
// with its owner so that two owners' keys never meet and no key's text is
// stored.
func (k keys) idem(owner, key string) string {
	h := sha256.Sum256([]byte(owner + "\x00" + key))
	return k.p + ":idem:" + hex.EncodeToString(h[:])
}

// ClaimIdempotency claims owner's idempotency key for claim, for ttl. When
// another claim holds the key it returns that claim and false; replace, when
// not empty, is a claim to take over even though it holds the key (one
// whose execution was never created).
func (s *Store) ClaimIdempotency(ctx context.Context, owner, key, claim, replace string, ttl time.Duration) (holder string, claimed bool, err error) {
	cur, err := idemClaimScript.Run(ctx, s.rdb, []string{s.k.idem(owner, key)}, claim, ttl.Milliseconds(), replace).Text()
	if errors.Is(err, redis.Nil) {
		return "", true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: idempotency key: %w", err)
	}
	return cur, false, nil
}

// ReleaseIdempotency removes owner's idempotency key if claim still holds
// it.
func (s *Store) ReleaseIdempotency(ctx context.Context, owner, key, claim string) error {
	if err := idemReleaseScript.Run(ctx, s.rdb, []string{s.k.idem(owner, key)}, claim).Err(); err != nil {
		return fmt.Errorf("store: idempotency key: %w", err)
	}
	return nil
}
