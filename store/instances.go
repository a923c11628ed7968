package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Instance is a stored input data set, reusable by many executions.
type Instance struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	JobType     string            `json:"job_type,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Format      string            `json:"format"`
	Size        int64             `json:"size"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func instNotFound(id string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("instance %q not found", id)}
}

func encodeInstance(in *Instance) []any {
	md, _ := json.Marshal(in.Metadata)
	return []any{"id", in.ID, "name", in.Name, "description", in.Description, "job_type", in.JobType,
		"owner", in.Owner, "format", in.Format, "size", in.Size, "metadata", md,
		"created_at", ms(in.CreatedAt), "updated_at", ms(in.UpdatedAt)}
}

// CreateInstance stores an instance record and its data.
func (s *Store) CreateInstance(ctx context.Context, in *Instance, data []byte) error {
	in.Size = int64(len(data))
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.CreatedAt
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.k.inst(in.ID), encodeInstance(in)...)
	pipe.Set(ctx, s.k.instData(in.ID), data, 0)
	score := float64(in.CreatedAt.UnixMilli())
	pipe.ZAdd(ctx, s.k.ixInstAll(), redis.Z{Score: score, Member: in.ID})
	if in.Owner != "" {
		pipe.ZAdd(ctx, s.k.ixInstOwner(in.Owner), redis.Z{Score: score, Member: in.ID})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: create instance: %w", err)
	}
	return nil
}

func decodeInstance(m map[string]string) *Instance {
	in := &Instance{ID: m["id"], Name: m["name"], Description: m["description"], JobType: m["job_type"],
		Owner: m["owner"], Format: m["format"], CreatedAt: parseMS(m["created_at"]), UpdatedAt: parseMS(m["updated_at"])}
	in.Size, _ = strconv.ParseInt(m["size"], 10, 64)
	if md := m["metadata"]; md != "" && md != "null" {
		_ = json.Unmarshal([]byte(md), &in.Metadata)
	}
	return in
}

// GetInstance reads an instance record.
func (s *Store) GetInstance(ctx context.Context, id string) (*Instance, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.inst(id)).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, instNotFound(id)
	}
	return decodeInstance(m), nil
}

// InstanceData returns an instance's data.
func (s *Store) InstanceData(ctx context.Context, id string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.k.instData(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, instNotFound(id)
	}
	return b, err
}

// UpdateInstance rewrites an instance record (not its data, which is
// immutable so that executions stay reproducible).
func (s *Store) UpdateInstance(ctx context.Context, in *Instance) error {
	n, err := s.rdb.Exists(ctx, s.k.inst(in.ID)).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return instNotFound(in.ID)
	}
	return s.rdb.HSet(ctx, s.k.inst(in.ID), encodeInstance(in)...).Err()
}

// DeleteInstance removes an instance and its data. Executions keep their
// own copy of the data they ran on.
func (s *Store) DeleteInstance(ctx context.Context, id string) error {
	in, err := s.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, s.k.inst(id), s.k.instData(id))
	pipe.ZRem(ctx, s.k.ixInstAll(), id)
	if in.Owner != "" {
		pipe.ZRem(ctx, s.k.ixInstOwner(in.Owner), id)
	}
	_, err = pipe.Exec(ctx)
	return err
}

// ListInstances returns instances newest first (optionally one owner's)
// and the total.
func (s *Store) ListInstances(ctx context.Context, owner string, p Page) ([]*Instance, int64, error) {
	key := s.k.ixInstAll()
	if owner != "" {
		key = s.k.ixInstOwner(owner)
	}
	pipe := s.rdb.Pipeline()
	total := pipe.ZCard(ctx, key)
	idsCmd := pipe.ZRevRange(ctx, key, int64(p.Offset), int64(p.Offset+p.Limit-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, err
	}
	ids := idsCmd.Val()
	if len(ids) == 0 {
		return nil, total.Val(), nil
	}
	pipe = s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.k.inst(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, err
	}
	out := make([]*Instance, 0, len(ids))
	for _, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out = append(out, decodeInstance(m))
		}
	}
	return out, total.Val(), nil
}
