package users

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// APIKey is a long-lived credential of a user, as the API lists it (the
// wire type api.APIKey). The secret is shown once when the key is created;
// only its SHA-256 hash is stored.
type APIKey = api.APIKey

// APIKeyPrefix starts every API key secret, so that a bearer token can be
// told apart from a JWT and leaked keys can be found by scanners.
const APIKeyPrefix = "sk_"

// JobKeyPrefix starts every per-execution job key.
const JobKeyPrefix = "jk_"

// NewJobKey returns a fresh per-execution job key secret
// (solvekit.SubmitRequest.JobKey).
func NewJobKey() string { return JobKeyPrefix + randomToken(24) }

func (s *Store) apiKey(id string) string         { return s.p + ":k:" + id }
func (s *Store) apiKeyHash(h string) string      { return s.p + ":k:h:" + h }
func (s *Store) ixAPIKeys() string               { return s.p + ":ix:k" }
func (s *Store) ixUserAPIKeys(uid string) string { return s.p + ":ix:k:u:" + uid }

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

// lookupAPIKeyScript resolves a presented key in one round trip: the
// key's id from its hash, the key's record (its last use stamped), and its
// user's record.
// KEYS[1] the hash's entry. ARGV[1] key prefix, ARGV[2] the secret's
// hash, ARGV[3] now (ms). Returns false for an unknown key, else the key's
// and the user's fields (flat field/value lists; the user's is empty when
// it is gone). The hashes are compared in Lua, as createUserScript does:
// the SHA-256 of a secret says nothing usable about the secret. Only the
// stored keys are touched, so a key deleted meanwhile is not brought back
// by the stamp.
var lookupAPIKeyScript = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
local kk = ARGV[1] .. ':k:' .. id
local k = redis.call('HGETALL', kk)
local uid
for i = 1, #k, 2 do
  if k[i] == 'hash' and k[i+1] ~= ARGV[2] then return false end
  if k[i] == 'user_id' then uid = k[i+1] end
end
if not uid then return false end
redis.call('HSET', kk, 'last_used_at', ARGV[3])
return {k, redis.call('HGETALL', ARGV[1] .. ':u:' .. uid)}`)

// LookupAPIKey finds the key whose secret is given, stamps its last use
// and returns it with its user, in one round trip. An unknown secret is a
// CodeUnauthorized error; a key whose user is gone comes back with a nil
// user.
func (s *Store) LookupAPIKey(ctx context.Context, secret string) (*APIKey, *User, error) {
	bad := &job.Error{Code: job.CodeUnauthorized, Message: "invalid API key"}
	h := HashToken(secret)
	now := time.Now().UTC()
	v, err := lookupAPIKeyScript.Run(ctx, s.rdb, []string{s.apiKeyHash(h)}, s.p, h, ms(now)).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, nil, bad
	}
	if err != nil {
		return nil, nil, err
	}
	if len(v) != 2 {
		return nil, nil, fmt.Errorf("store: API key lookup: unexpected reply %v", v)
	}
	km, um := flatMap(v[0]), flatMap(v[1])
	if subtle.ConstantTimeCompare([]byte(km["hash"]), []byte(h)) != 1 {
		return nil, nil, bad
	}
	k := decodeAPIKey(km)
	k.LastUsedAt = &now
	var u *User
	if um["id"] != "" {
		u = decodeUser(um)
	}
	return k, u, nil
}

// flatMap turns a script's field/value list into a map.
func flatMap(v any) map[string]string {
	xs, _ := v.([]any)
	m := make(map[string]string, len(xs)/2)
	for i := 0; i+1 < len(xs); i += 2 {
		f, _ := xs[i].(string)
		val, _ := xs[i+1].(string)
		m[f] = val
	}
	return m
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
