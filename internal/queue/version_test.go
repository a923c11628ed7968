package queue_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/redistest"
)

// TestLinkedVersion: a test binary carries its dependencies' versions, and
// LinkedVersion finds asynq's, the one go.mod selects.
func TestLinkedVersion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/hibiken/asynq").Output()
	require.NoError(t, err)
	want := strings.TrimSpace(string(out))
	require.NotEmpty(t, want)
	require.Equal(t, want, queue.LinkedVersion())
	t.Logf("linked asynq %s; layout tested: %v", queue.LinkedVersion(), queue.LayoutTested)
}

// TestChoosePath: the fused path only with a tested asynq release, off
// Cluster and not forced off; asynq's layout used at all only with a
// tested release and not forced off.
func TestChoosePath(t *testing.T) {
	tested := queue.LayoutTested[0]
	tests := []struct {
		version        string
		cluster        bool
		forced         bool
		fused, layout  bool
		reasonContains string
	}{
		{tested, false, false, true, true, ""},
		{tested, true, false, false, true, "Cluster"},
		{tested, false, true, false, false, "AsynqPublicAPI"},
		{tested, true, true, false, false, "AsynqPublicAPI"},
		{"v0.26.1", false, false, false, false, `"v0.26.1"`},
		{"v0.27.0", true, false, false, false, `"v0.27.0"`},
		{"v0.25.1", false, false, false, false, `"v0.25.1"`},
		{"", false, false, false, false, `asynq ""`},
		{"(devel)", false, false, false, false, `"(devel)"`},
	}
	for _, tt := range tests {
		p := queue.ChoosePath(tt.version, tt.cluster, tt.forced)
		require.Equal(t, tt.fused, p.Fused, "%+v", tt)
		require.Equal(t, tt.layout, p.Layout, "%+v", tt)
		if tt.fused {
			require.Empty(t, p.Reason)
			require.Equal(t, "fused", p.Name())
			continue
		}
		require.Equal(t, "public", p.Name())
		require.Contains(t, p.Reason, tt.reasonContains, "%+v", tt)
	}
}

// TestHasTasksBothWays: HasTasks answers the same through asynq's layout
// (one round trip) and through asynq's Inspector (public API).
func TestHasTasksBothWays(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	pending := queue.Attempt{ID: "p", Attempt: 1}
	later := queue.Attempt{ID: "s", Attempt: 2}
	c := queue.NewClient(rdb, true)
	_, err := c.Enqueue(ctx, pending, queue.EnqueueOptions{Queue: "q1"})
	require.NoError(t, err)
	_, err = c.Enqueue(ctx, later, queue.EnqueueOptions{Delay: time.Hour})
	require.NoError(t, err)
	qs := []queue.Queued{
		{Queue: "q1", Attempt: pending},
		{Queue: "", Attempt: later},                                // default queue, scheduled
		{Queue: "q1", Attempt: queue.Attempt{ID: "p", Attempt: 2}}, // no such attempt
		{Queue: "none", Attempt: pending},                          // no such queue
	}
	want := []bool{true, true, false, false}
	for _, layout := range []bool{true, false} {
		got, err := queue.NewClient(rdb, layout).HasTasks(ctx, qs)
		require.NoError(t, err, "layout %v", layout)
		require.Equal(t, want, got, "layout %v", layout)
	}
}
