package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

func TestFinishedInOneState(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cut := base.Add(30 * time.Minute)
	for i, c := range []struct {
		id string
		st job.State
	}{{"ok1", job.StateSucceeded}, {"ok2", job.StateSucceeded}, {"bad", job.StateFailed}, {"slow", job.StateTimedOut}} {
		at := base.Add(time.Duration(i) * time.Second)
		create(t, s, c.id, "t", "", at, nil)
		_, err := s.Start(ctx, c.id, 1, "w1", at)
		require.NoError(t, err)
		ok, err := s.Finish(ctx, c.id, 1, store.Outcome{State: c.st}, at.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
	}
	create(t, s, "running", "t", "", base, nil)
	_, err := s.Start(ctx, "running", 1, "w1", base)
	require.NoError(t, err)

	ids, err := s.FinishedIn(ctx, job.StateSucceeded, cut, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"ok1", "ok2"}, ids, "oldest first, that state only")
	ids, err = s.FinishedIn(ctx, job.StateSucceeded, cut, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"ok1"}, ids, "at most limit")
	ids, err = s.FinishedIn(ctx, job.StateTimedOut, cut, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"slow"}, ids)
	ids, err = s.FinishedIn(ctx, job.StateFailed, base, 100)
	require.NoError(t, err)
	require.Empty(t, ids, "nothing finished before the first creation")
}

func TestDeleteUnusedInstances(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	for i, id := range []string{"used", "free", "owned"} {
		owner := ""
		if id == "owned" {
			owner = "u1"
		}
		require.NoError(t, s.CreateInstance(ctx, &store.Instance{ID: id, Owner: owner, CreatedAt: at.Add(time.Duration(i) * time.Second)}, []byte(`{}`)))
	}
	require.NoError(t, s.Create(ctx, &job.Execution{ID: "e1", JobType: "t", Queue: "default", InstanceID: "used", CreatedAt: at}, []byte(`{}`)))

	ids, err := s.InstancesCreatedBefore(ctx, at.Add(time.Hour), 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"used", "free", "owned"}, ids, "oldest first")
	ids, err = s.InstancesCreatedBefore(ctx, at.Add(time.Hour), 1, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"free"}, ids, "paged")

	n, err := s.DeleteUnusedInstances(ctx, []string{"used", "free", "owned", "missing"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = s.GetInstance(ctx, "used")
	require.NoError(t, err, "an execution names it")
	for _, id := range []string{"free", "owned"} {
		_, err = s.GetInstance(ctx, id)
		require.ErrorIs(t, err, job.ErrNotFound)
		_, err = s.InstanceData(ctx, id)
		require.ErrorIs(t, err, job.ErrNotFound)
	}
	list, err := s.ListInstances(ctx, "u1", "", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list.Items)
	require.Zero(t, list.Total, "out of its owner's index too")

	// Once the execution is gone, the instance is unused.
	_, err = s.Cancel(ctx, "e1", at)
	require.NoError(t, err)
	require.NoError(t, s.Delete(ctx, "e1"))
	n, err = s.DeleteUnusedInstances(ctx, []string{"used"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	list, err = s.ListInstances(ctx, "", "", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list.Items)
	require.Zero(t, list.Total)
}

func TestFilesInBlobs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	create(t, s, "e1", "t", "", time.Now(), nil)
	put := func(name, data, blob string) []string {
		t.Helper()
		replaced, err := s.PutFiles(ctx, "e1", []*store.File{{Name: name}}, [][]byte{[]byte(data)}, []string{blob}, 0)
		require.NoError(t, err)
		return replaced
	}
	require.Empty(t, put("a.bin", "aaaa", "k1"))
	require.Empty(t, put("b.txt", "b", ""))
	f, data, blob, err := s.GetFile(ctx, "e1", "a.bin")
	require.NoError(t, err)
	require.Equal(t, int64(4), f.Size, "the size is the content's, not the key's")
	require.Empty(t, data)
	require.Equal(t, "k1", blob)
	keys, err := s.FileBlobs(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, []string{"k1"}, keys)

	require.Equal(t, []string{"k1"}, put("a.bin", "aaaaaa", "k2"), "a replaced blob is handed back")
	require.Equal(t, []string{"k2"}, put("a.bin", "inline", ""), "and so when the content moves inline")
	_, data, blob, err = s.GetFile(ctx, "e1", "a.bin")
	require.NoError(t, err)
	require.Equal(t, "inline", string(data))
	require.Empty(t, blob)
	keys, err = s.FileBlobs(ctx, "e1")
	require.NoError(t, err)
	require.Empty(t, keys)
	fs, err := s.ListFiles(ctx, "e1")
	require.NoError(t, err)
	require.Len(t, fs, 2)

	// Past the cap nothing is stored, and the blob key is not kept.
	_, err = s.PutFiles(ctx, "e1", []*store.File{{Name: "c.bin"}}, [][]byte{make([]byte, 100)}, []string{"k3"}, 50)
	require.ErrorIs(t, err, &job.Error{Code: job.CodeTooLarge})
	keys, err = s.FileBlobs(ctx, "e1")
	require.NoError(t, err)
	require.Empty(t, keys)
}
