package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// TestExperimentBookkeeping: a cell is recorded as submitted only when it
// is the next one and the experiment runs; closed cells leave the open
// set with their rows; an ended experiment leaves the active set; a lease
// is released only by its owner; a delete takes the bookkeeping along.
func TestExperimentBookkeeping(t *testing.T) {
	s := store.New(redistest.Client(t), store.Options{})
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, s.PutDoc(ctx, store.KindExperiment, "e1", "", []byte(`{}`), now, map[string]string{"state": "running", "next": "0"}))
	active, err := s.ActiveExperiments(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"e1"}, active)

	ok, err := s.CellSubmitted(ctx, "e1", 1)
	require.NoError(t, err)
	require.False(t, ok, "cell 1 is not the next one")
	for i := range 2 {
		ok, err = s.CellSubmitted(ctx, "e1", i)
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, err = s.CellSubmitted(ctx, "e1", 1)
	require.NoError(t, err)
	require.False(t, ok, "recorded once")
	open, err := s.OpenCells(ctx, "e1")
	require.NoError(t, err)
	require.ElementsMatch(t, []int{0, 1}, open)

	require.NoError(t, s.CloseCells(ctx, "e1", map[int][]byte{0: []byte(`{"cell":0}`)}))
	open, err = s.OpenCells(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, []int{1}, open)
	rows, err := s.CellRows(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, map[int][]byte{0: []byte(`{"cell":0}`)}, rows)

	require.NoError(t, s.EndExperiment(ctx, "e1", "stopped", now))
	ok, err = s.CellSubmitted(ctx, "e1", 2)
	require.NoError(t, err)
	require.False(t, ok, "a stopped experiment takes no more cells")
	active, err = s.ActiveExperiments(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"e1"}, active, "a stopped experiment stays active until its open cells are closed")
	require.NoError(t, s.DropActive(ctx, "e1"))
	active, err = s.ActiveExperiments(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
	d, err := s.GetDoc(ctx, store.KindExperiment, "e1")
	require.NoError(t, err)
	require.Equal(t, "stopped", d.Fields["state"])
	require.Equal(t, "2", d.Fields["next"])

	got, err := s.TryLock(ctx, "exp:e1", "a", time.Minute)
	require.NoError(t, err)
	require.True(t, got)
	require.NoError(t, s.Unlock(ctx, "exp:e1", "b"))
	got, err = s.TryLock(ctx, "exp:e1", "b", time.Minute)
	require.NoError(t, err)
	require.False(t, got, "b's unlock left a's lease")
	require.NoError(t, s.Unlock(ctx, "exp:e1", "a"))
	got, err = s.TryLock(ctx, "exp:e1", "b", time.Minute)
	require.NoError(t, err)
	require.True(t, got)

	docs, total, err := s.ListDocs(ctx, store.KindExperiment, "", 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Len(t, docs, 1)
	require.NoError(t, s.DeleteDoc(ctx, store.KindExperiment, "e1"))
	require.ErrorIs(t, s.DeleteDoc(ctx, store.KindExperiment, "e1"), job.ErrNotFound)
	_, err = s.GetDoc(ctx, store.KindExperiment, "e1")
	require.ErrorIs(t, err, job.ErrNotFound)
	rows, err = s.CellRows(ctx, "e1")
	require.NoError(t, err)
	require.Empty(t, rows)
}

// TestDocOwnerIndex: a document with an owner is listed in its owner's
// index too (full pages, the owner's total), and a delete removes it from
// both.
func TestDocOwnerIndex(t *testing.T) {
	rdb := redistest.Client(t)
	s := store.New(rdb, store.Options{})
	ctx := context.Background()
	now := time.Now()
	for i, o := range []string{"ann", "bob", "ann", "", "ann"} {
		require.NoError(t, s.PutDoc(ctx, store.KindInstanceSet, fmt.Sprint("s", i), o, []byte(`{}`), now.Add(time.Duration(i)*time.Millisecond), nil))
	}
	docs, total, err := s.ListDocs(ctx, store.KindInstanceSet, "ann", 0, 2)
	require.NoError(t, err)
	require.EqualValues(t, 3, total)
	require.Len(t, docs, 2)
	require.Equal(t, []string{"s4", "s2"}, []string{docs[0].ID, docs[1].ID})
	docs, _, err = s.ListDocs(ctx, store.KindInstanceSet, "ann", 2, 2)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	require.Equal(t, "s0", docs[0].ID)
	_, total, err = s.ListDocs(ctx, store.KindInstanceSet, "", 0, 2)
	require.NoError(t, err)
	require.EqualValues(t, 5, total)

	require.NoError(t, s.DeleteDoc(ctx, store.KindInstanceSet, "s2"))
	require.NoError(t, s.DeleteDoc(ctx, store.KindInstanceSet, "s1"))
	_, total, err = s.ListDocs(ctx, store.KindInstanceSet, "ann", 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 2, total)
	_, total, err = s.ListDocs(ctx, store.KindInstanceSet, "bob", 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 0, total)
	_, total, err = s.ListDocs(ctx, store.KindInstanceSet, "", 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 3, total)
}
