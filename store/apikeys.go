package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// APIKey is a long-lived credential of a user. The secret is shown once
// when the key is created; only its SHA-256 hash is stored.
type APIKey struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id"`
	// Prefix is the start of the secret, to recognise a key in listings.
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// APIKeyPrefix starts every API key secret, so that a bearer token can be
// told apart from a JWT and leaked keys can be found by scanners.
const APIKeyPrefix = "sk_"

// JobKeyPrefix starts every per-execution job key.
const JobKeyPrefix = "jk_"

func (s *Store) apiKey(id string) string         { return s.k.p + ":k:" + id }
func (s *Store) apiKeyHash(h string) string      { return s.k.p + ":k:h:" + h }
func (s *Store) ixAPIKeys() string               { return s.k.p + ":ix:k" }
func (s *Store) ixUserAPIKeys(uid string) string { return s.k.p + ":ix:k:u:" + uid }

func keyNotFound(id string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("API key %q not found", id)}
}

// CreateAPIKey stores a new key for k.UserID (filling ID, Prefix and
// CreatedAt) and returns its secret, which is not kept.
func (s *Store) CreateAPIKey(ctx context.Context, k *APIKey) (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	secret := APIKeyPrefix + randomToken(24)
	k.ID, k.Prefix, k.CreatedAt = id.String(), secret[:len(APIKeyPrefix)+6], time.Now().UTC()
	h := HashToken(secret)
	score := float64(k.CreatedAt.UnixMilli())
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.apiKey(k.ID), "id", k.ID, "name", k.Name, "user_id", k.UserID, "prefix", k.Prefix,
		"created_at", ms(k.CreatedAt), "hash", h)
	pipe.Set(ctx, s.apiKeyHash(h), k.ID, 0)
	pipe.ZAdd(ctx, s.ixAPIKeys(), redis.Z{Score: score, Member: k.ID})
	pipe.ZAdd(ctx, s.ixUserAPIKeys(k.UserID), redis.Z{Score: score, Member: k.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("store: create API key: %w", err)
	}
	return secret, nil
}

func decodeAPIKey(m map[string]string) *APIKey {
	return &APIKey{ID: m["id"], Name: m["name"], UserID: m["user_id"], Prefix: m["prefix"],
		CreatedAt: parseMS(m["created_at"]), LastUsedAt: parseMSPtr(m["last_used_at"])}
}

// GetAPIKey reads a key's record.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*APIKey, error) {
	m, err := s.rdb.HGetAll(ctx, s.apiKey(id)).Result()
	if err != nil {
		return nil, err
	}
	if m["id"] == "" {
		return nil, keyNotFound(id)
	}
	return decodeAPIKey(m), nil
}

// LookupAPIKey finds the key whose secret is given (the stored hash is
// compared in constant time) and stamps its last use. An unknown secret is
// a CodeUnauthorized error.
func (s *Store) LookupAPIKey(ctx context.Context, secret string) (*APIKey, error) {
	bad := &job.Error{Code: job.CodeUnauthorized, Message: "invalid API key"}
	h := HashToken(secret)
	id, err := s.rdb.Get(ctx, s.apiKeyHash(h)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.apiKey(id)).Result()
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(m["hash"]), []byte(h)) != 1 {
		return nil, bad
	}
	now := time.Now().UTC()
	s.rdb.HSet(ctx, s.apiKey(id), "last_used_at", ms(now))
	k := decodeAPIKey(m)
	k.LastUsedAt = &now
	return k, nil
}

// ListAPIKeys returns keys newest first (one user's when userID is set)
// and their total.
func (s *Store) ListAPIKeys(ctx context.Context, userID string, p Page) ([]*APIKey, int64, error) {
	ix := s.ixAPIKeys()
	if userID != "" {
		ix = s.ixUserAPIKeys(userID)
	}
	pipe := s.rdb.Pipeline()
	total := pipe.ZCard(ctx, ix)
	ids := pipe.ZRevRange(ctx, ix, int64(p.Offset), int64(p.Offset+p.Limit-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, err
	}
	out := make([]*APIKey, 0, len(ids.Val()))
	for _, id := range ids.Val() {
		k, err := s.GetAPIKey(ctx, id)
		if err == nil {
			out = append(out, k)
		}
	}
	return out, total.Val(), nil
}

// DeleteAPIKey revokes a key.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	m, err := s.rdb.HGetAll(ctx, s.apiKey(id)).Result()
	if err != nil {
		return err
	}
	if m["id"] == "" {
		return keyNotFound(id)
	}
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, s.apiKey(id), s.apiKeyHash(m["hash"]))
	pipe.ZRem(ctx, s.ixAPIKeys(), id)
	pipe.ZRem(ctx, s.ixUserAPIKeys(m["user_id"]), id)
	_, err = pipe.Exec(ctx)
	return err
}

// DeleteUserAPIKeys revokes every key of a user.
func (s *Store) DeleteUserAPIKeys(ctx context.Context, userID string) error {
	ids, err := s.rdb.ZRange(ctx, s.ixUserAPIKeys(userID), 0, -1).Result()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.DeleteAPIKey(ctx, id); err != nil && job.ErrorCode(err) != job.CodeNotFound {
			return err
		}
	}
	return nil
}

// setIfExists sets hash fields only when the hash exists, so a record
// deleted meanwhile is not resurrected as a partial hash.
var setIfExists = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`)

// NewJobKey returns a fresh per-execution job key secret.
func NewJobKey() string { return JobKeyPrefix + randomToken(24) }

// SetJobKey stores the SHA-256 hash of an execution's job key in its
// record (deleted with it).
func (s *Store) SetJobKey(ctx context.Context, id, secret string) error {
	n, err := setIfExists.Run(ctx, s.rdb, []string{s.k.meta(id)}, "job_key_sha256", HashToken(secret)).Int()
	if err != nil {
		return fmt.Errorf("store: set job key %s: %w", id, err)
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}

// CheckJobKey reports whether secret is the job key of execution id,
// comparing hashes in constant time.
func (s *Store) CheckJobKey(ctx context.Context, id, secret string) (bool, error) {
	h, err := s.rdb.HGet(ctx, s.k.meta(id), "job_key_sha256").Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(h), []byte(HashToken(secret))) == 1, nil
}
