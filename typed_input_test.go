package solvekit_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

type valuesInput struct {
	Values []float64 `json:"values" validate:"min=1"`
}

// typedSum is the README's typed example: values must not be empty.
func typedSum(kind job.Kind, calls *atomic.Int32) *job.Definition {
	fn := func(ctx context.Context, jc *job.Context, in valuesInput) (map[string]float64, error) {
		calls.Add(1)
		total := 0.0
		for _, v := range in.Values {
			total += v
		}
		return map[string]float64{"sum": total}, nil
	}
	if kind == job.KindSync {
		return job.SyncOf("sum", fn)
	}
	return job.AsyncOf("sum", fn)
}

// TestSubmitChecksTypedInput: Submit refuses an instance that breaks a
// typed job's `validate:` tags or does not decode into its input type:
// job.ErrInvalid with pointers into the request, like schema violations,
// and nothing stored, queued or run.
func TestSubmitChecksTypedInput(t *testing.T) {
	for _, kind := range []job.Kind{job.KindAsync, job.KindSync} {
		t.Run(string(kind), func(t *testing.T) {
			var calls atomic.Int32
			b := setup(t, setupOpts{defs: []*job.Definition{typedSum(kind, &calls)}})
			ctx := context.Background()
			for doc, want := range map[string]job.Violation{
				`{"values":[]}`:          {Pointer: "/instance/values", Keyword: "min"},
				`{"values":"1,2"}`:       {Pointer: "/instance/values", Keyword: "type"},
				`{"values":[1,"two",3]}`: {Pointer: "/instance/values/1", Keyword: "type"},
			} {
				_, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(doc)})
				require.ErrorIs(t, err, job.ErrInvalid, doc)
				var je *job.Error
				require.ErrorAs(t, err, &je)
				require.Len(t, je.Violations, 1, doc)
				require.Equal(t, want.Pointer, je.Violations[0].Pointer, doc)
				require.Equal(t, want.Keyword, je.Violations[0].Keyword, doc)
			}
			list, total, err := b.svc.List(ctx, solvekit.ListOptions{})
			require.NoError(t, err)
			require.Zero(t, total, "nothing stored: %v", list)
			keys, err := b.rdb.Keys(ctx, "asynq:{default}:*").Result()
			require.NoError(t, err)
			require.Empty(t, keys, "nothing queued")

			e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`)})
			require.NoError(t, err)
			e = waitFor(t, b, e.ID, time.Minute)
			require.Equal(t, job.StateSucceeded, e.State)
			require.EqualValues(t, 1, calls.Load(), "only the valid one ran")
		})
	}
}

// TestTypedDecodeErrorInWorkerFailsOnce: an instance the worker's typed
// job cannot take (stored before the type changed: here submitted through
// an untyped definition of the same name) fails the execution at the
// first attempt, with the violations; it is not retried.
func TestTypedDecodeErrorInWorkerFailsOnce(t *testing.T) {
	var calls atomic.Int32
	fast := func(int) time.Duration { return 10 * time.Millisecond }
	worker := setup(t, setupOpts{cfg: solvekit.Config{RetryDelay: fast}, defs: []*job.Definition{typedSum(job.KindAsync, &calls)}})
	// The submitter knows the job type without the typed input.
	submitter, err := solvekit.New(context.Background(), solvekit.Config{Redis: worker.rdb, Logger: worker.svc2Logger(), RetryDelay: fast})
	require.NoError(t, err)
	t.Cleanup(func() { submitter.Close() })
	require.NoError(t, submitter.Register(job.Async("sum", func(context.Context, *job.Context) (any, error) { return nil, nil })))

	ctx := context.Background()
	e, err := submitter.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[]}`)})
	require.NoError(t, err)
	e = waitFor(t, worker, e.ID, time.Minute)
	require.Equal(t, job.StateFailed, e.State)
	require.Equal(t, 1, e.Attempt, "not retried")
	require.Zero(t, e.Retries)
	require.NotNil(t, e.Error)
	require.Equal(t, "failure", e.Error.Kind)
	require.Len(t, e.Error.Violations, 1)
	require.Equal(t, "/values", e.Error.Violations[0].Pointer)
	require.Equal(t, "min", e.Error.Violations[0].Keyword)
	require.Zero(t, calls.Load())
}
