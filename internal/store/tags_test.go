package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// TestTagIndexesLeaveNothing: tag index entries are written with the
// record, moved with its tags and removed with it (execution delete,
// instance delete, unused-instance retention), so that once every tagged
// record is gone no tag key is left; the known-tags set forgets a tag
// nothing carries when it is listed.
func TestTagIndexesLeaveNothing(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: "{tagtest}"})
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	require.NoError(t, s.Create(ctx, &job.Execution{ID: "e1", JobType: "t", Queue: "default", CreatedAt: at,
		Tags: []string{"a", "b"}, RequireTags: []string{"gpu"}}, json.RawMessage(`{}`)))
	require.NoError(t, s.Create(ctx, &job.Execution{ID: "e2", JobType: "t", Queue: "default", CreatedAt: at.Add(time.Second),
		Tags: []string{"a"}}, json.RawMessage(`{}`)))
	for i, id := range []string{"i1", "i2"} {
		require.NoError(t, s.CreateInstance(ctx, &store.Instance{ID: id, Owner: "u" + id, Tags: []string{"a", "c"},
			CreatedAt: at.Add(time.Duration(i) * time.Second)}, []byte(`{}`)))
	}
	e, err := s.Get(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, e.Tags)
	require.Equal(t, []string{"gpu"}, e.RequireTags)
	started, err := s.Start(ctx, "e1", 1, "w", time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"gpu"}, started.Execution.RequireTags, "start hands the worker the routing")

	// Owner beside tag: the tag's set, the owner checked.
	l, err := s.ListInstances(ctx, "ui2", "a", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, "i2", l.Items[0].ID)
	_, err = s.ListInstances(ctx, "ui2", "a", store.Page{Limit: 10, Offset: 1})
	require.Equal(t, job.CodeBadRequest, job.ErrorCode(err))

	tags, err := s.SetTags(ctx, false, "e2", store.TagsAdd, []string{"d", "a"})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "d"}, tags)
	_, err = s.SetTags(ctx, false, "nope", store.TagsAdd, []string{"d"})
	require.Equal(t, job.CodeNotFound, job.ErrorCode(err))
	many := make([]string, job.MaxTags+1)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	_, err = s.SetTags(ctx, false, "e2", store.TagsSet, many)
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err))

	counts, more, err := s.TagCounts(ctx, "", 10, nil)
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, []store.TagCount{{Name: "a", Executions: 2, Instances: 2}, {Name: "b", Executions: 1},
		{Name: "c", Instances: 2}, {Name: "d", Executions: 1}}, counts)
	counts, more, err = s.TagCounts(ctx, "a", 2, nil)
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, "b", counts[0].Name)
	require.Equal(t, "c", counts[1].Name)

	// Delete everything: no tag index key is left.
	_, err = s.Finish(ctx, "e1", 1, store.Outcome{State: job.StateSucceeded}, time.Now())
	require.NoError(t, err)
	_, err = s.Cancel(ctx, "e2", time.Now())
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "e1"))
	require.NoError(t, s.Delete(ctx, "e2"))
	require.NoError(t, s.DeleteInstance(ctx, "i1"))
	n, err := s.DeleteUnusedInstances(ctx, []string{"i2"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	keys, err := rdb.Keys(ctx, "{tagtest}:ix:*tag:*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
	counts, _, err = s.TagCounts(ctx, "", 10, []string{"c"})
	require.NoError(t, err)
	require.Equal(t, []store.TagCount{{Name: "c"}}, counts, "only a kept name (a job type's tag) is listed")
	names, err := rdb.ZRange(ctx, "{tagtest}:ix:tags", 0, -1).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, names, "the others were forgotten")
}
