package redistest

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestClientsAreIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := Client(t), Client(t)
	require.NoError(t, a.Set(ctx, "k", "a", 0).Err())
	require.NoError(t, b.Set(ctx, "k", "b", 0).Err())
	va, err := a.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "a", va)
	n, err := b.DBSize(ctx).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	t.Logf("server kind %s %s", Current(t).Kind, Current(t).Version)
}
