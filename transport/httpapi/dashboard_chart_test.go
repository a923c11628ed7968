package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIncumbentChart(t *testing.T) {
	require.Nil(t, newIncumbentChart(nil))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Spread over seconds: x follows time, y runs from the highest
	// objective at the top to the lowest at the bottom.
	c := newIncumbentChart([]incumbentPoint{{Time: t0, Objective: 10}, {Time: t0.Add(time.Second), Objective: 8}, {Time: t0.Add(4 * time.Second), Objective: 7}})
	require.False(t, c.ByIndex)
	require.Equal(t, "M72.0 16.0 H210.0 V144.0 H624.0 V208.0", c.Path)
	require.Len(t, c.Points, 3)
	require.Equal(t, "+4s", c.XEnd)
	require.Equal(t, "10", c.YMax)
	require.Equal(t, "7", c.YMin)
	// Within a millisecond: evenly spaced by number.
	c = newIncumbentChart([]incumbentPoint{{Time: t0, Objective: 1}, {Time: t0, Objective: 2}, {Time: t0.Add(time.Millisecond), Objective: 3}})
	require.True(t, c.ByIndex)
	require.Equal(t, "M72.0 208.0 H348.0 V112.0 H624.0 V16.0", c.Path)
	require.True(t, strings.HasPrefix(c.XEnd, "#3"))
	// One point, or equal objectives: centred, no division by zero.
	c = newIncumbentChart([]incumbentPoint{{Time: t0, Objective: 5}})
	require.Equal(t, "M348.0 112.0", c.Path)
	c = newIncumbentChart([]incumbentPoint{{Time: t0, Objective: 5}, {Time: t0.Add(time.Minute), Objective: 5}})
	require.Equal(t, "M72.0 112.0 H624.0 V112.0", c.Path)
}
