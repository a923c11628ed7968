package store

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonString agrees with encoding/json on plain and awkward strings.
func TestJSONString(t *testing.T) {
	for _, s := range []string{"", "optimal", "time_limit", `a"b`, `back\slash`, "tab\t", "<&>", "é", "\x00\x7f"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), jsonString(s), "%q", s)
	}
}
