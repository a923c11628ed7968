package jsontree_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/jsontree"
)

// TestClone: the copy is equal and shares no map or slice with the
// original, at any depth.
func TestClone(t *testing.T) {
	orig := map[string]any{"a": []any{1.0, map[string]any{"b": "c"}}, "d": true, "e": nil}
	c := jsontree.Clone(orig).(map[string]any)
	require.Equal(t, orig, c)
	c["d"] = false
	c["a"].([]any)[0] = 2.0
	c["a"].([]any)[1].(map[string]any)["b"] = "x"
	require.Equal(t, map[string]any{"a": []any{1.0, map[string]any{"b": "c"}}, "d": true, "e": nil}, orig)
	require.Equal(t, "s", jsontree.Clone("s"))
}

// TestCopyElem: Copy hands every element of the outer container to elem
// and leaves scalars alone.
func TestCopyElem(t *testing.T) {
	double := func(x any) any { return x.(float64) * 2 }
	require.Equal(t, []any{2.0, 4.0}, jsontree.Copy([]any{1.0, 2.0}, double))
	require.Equal(t, map[string]any{"k": 6.0}, jsontree.Copy(map[string]any{"k": 3.0}, double))
	require.Equal(t, 5.0, jsontree.Copy(5.0, double))
}
