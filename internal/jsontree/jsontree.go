// Package jsontree copies decoded JSON values: map[string]any, []any and
// scalars, as encoding/json yields them. It is the one recursion that the
// registry's default filling, its tests and the OpenAPI generator's schema
// rewriting share.
package jsontree

// Copy returns v with its outer container copied: a map[string]any or an
// []any becomes a new one whose elements are elem(element); anything else
// is returned as it is. An elem that handles some values itself and
// passes the others back to Copy with itself walks the whole tree.
func Copy(v any, elem func(any) any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = elem(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = elem(x)
		}
		return out
	}
	return v
}

// Clone returns a deep copy of v: no map or slice of the result is shared
// with v (scalars are immutable and shared).
func Clone(v any) any { return Copy(v, Clone) }
