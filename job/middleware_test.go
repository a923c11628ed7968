package job_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

// TestChain: the first middleware is outermost, nil ones are skipped, and
// each sees the job Context.
func TestChain(t *testing.T) {
	var calls []string
	mw := func(name string) job.Middleware {
		return func(next job.Func) job.Func {
			return func(ctx context.Context, jc *job.Context) (any, error) {
				calls = append(calls, name+">"+jc.JobType)
				v, err := next(ctx, jc)
				calls = append(calls, name+"<")
				return v, err
			}
		}
	}
	fn := job.Chain(func(ctx context.Context, jc *job.Context) (any, error) {
		calls = append(calls, "job")
		return 7, nil
	}, mw("a"), nil, mw("b"))
	v, err := fn(context.Background(), &job.Context{JobType: "t"})
	require.NoError(t, err)
	require.Equal(t, 7, v)
	require.Equal(t, []string{"a>t", "b>t", "job", "b<", "a<"}, calls)
}
