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

// Instance is a stored input data set (see job.Instance).
type Instance = job.Instance

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
	if len(in.Tags) > 0 {
		pipe.HSet(ctx, s.k.inst(in.ID), "tags", joinTags(in.Tags))
		for _, t := range in.Tags {
			pipe.ZAdd(ctx, s.k.ixInstTag(t), redis.Z{Score: score, Member: in.ID})
			pipe.ZAdd(ctx, s.k.tagNames(), redis.Z{Member: t})
		}
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
	in.Tags = splitTags(m["tags"])
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
	var b []byte
	err := s.read(ctx, func() (err error) { b, err = s.rdb.Get(ctx, s.k.instData(id)).Bytes(); return err })
	if errors.Is(err, redis.Nil) {
		return nil, instNotFound(id)
	}
	return b, err
}

// UpdateInstance rewrites an instance record (not its data, which is
// immutable so that executions stay reproducible, nor its tags: SetTags).
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
// own copy of the data they ran on. An instance that instance sets hold
// (PinInstances) is CodeConflict and stays.
func (s *Store) DeleteInstance(ctx context.Context, id string) error {
	in, err := s.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	n, err := s.runScript(ctx, instDeleteScript, s.instDeleteKeys(id, in.Owner, joinTags(in.Tags)), id, "").Int()
	switch {
	case err != nil:
		return err
	case n == 0:
		return instNotFound(id)
	case n < 0:
		return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf(
			"instance %q is held by %d instance set(s): delete the set(s) holding it first (an instance set cannot drop an instance)", id, -n)}
	}
	return nil
}

// InstanceListing is one page of instances.
type InstanceListing struct {
	Items []*Instance
	// Total is how many instances match in all.
	Total int64
	// Next is the token of the next page; "" when the listing ended.
	Next string
}

// ListInstances returns a page of instances newest first (optionally one
// owner's, and/or those carrying tag), the total and the next page's
// token: one sorted set read in O(log n + limit), at any depth with a
// token. With both an owner and a tag, the tag's set is read and the
// owner checked on at most ScanBudget candidates per request, as List
// does for filters no index covers: the page may come back short with a
// token, the total is -1 past the budget and an offset is refused.
func (s *Store) ListInstances(ctx context.Context, owner, tag string, p Page) (*InstanceListing, error) {
	from, err := p.start()
	if err != nil {
		return nil, err
	}
	key := s.k.ixInstAll()
	var checks []string
	switch {
	case tag != "" && owner != "":
		if p.Offset > 0 {
			return nil, job.Errorf(job.CodeBadRequest, "offset cannot be used with both owner and tag; page with page_token (next_page_token) instead")
		}
		key, checks = s.k.ixInstTag(tag), []string{"owner", owner}
	case tag != "":
		key = s.k.ixInstTag(tag)
	case owner != "":
		key = s.k.ixInstOwner(owner)
	}
	r, err := s.fetch(ctx, query{sets: []string{key}, w: windowOf(time.Time{}, time.Time{}), from: from, offset: p.Offset, n: p.Limit, count: true,
		checks: checks, recPrefix: s.k.inst("")})
	if err != nil {
		return nil, fmt.Errorf("store: list instances: %w", err)
	}
	ps := r.ps
	l := &InstanceListing{Total: r.total}
	switch {
	case r.more && len(ps) > 0:
		l.Next = ps[len(ps)-1].token()
	case r.stop != nil:
		l.Next = r.stop.token()
	}
	l.Items = make([]*Instance, 0, len(r.recs))
	for _, m := range r.recs {
		if len(m) > 0 {
			l.Items = append(l.Items, decodeInstance(m))
		}
	}
	return l, nil
}
