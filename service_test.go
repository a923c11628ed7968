package solvekit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

var sumSchema = []byte(`{"type":"object","required":["values"],"properties":{"values":{"type":"array","items":{"type":"number","minimum":0}}},"additionalProperties":false}`)
var sumConfig = []byte(`{"type":"object","properties":{"scale":{"type":"number","default":1},"mode":{"enum":["fast","slow"],"default":"fast"}}}`)
var sumSolution = []byte(`{"type":"object","required":["sum"],"properties":{"sum":{"type":"number"}}}`)

func sumJob() *job.Definition {
	return job.Async("sum", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct{ Values []float64 }
		var cfg struct{ Scale float64 }
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		total := 0.0
		for i, v := range in.Values {
			total += v
			jc.Progress(float64(i+1)/float64(len(in.Values)), "adding")
		}
		jc.Logger.Info("summed", "n", len(in.Values), "total", total)
		return map[string]float64{"sum": total * cfg.Scale}, nil
	}, job.WithInstanceSchema(sumSchema), job.WithConfigSchema(sumConfig), job.WithSolutionSchema(sumSolution))
}

func TestAsyncSucceeds(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{sumJob()}})
	ctx := context.Background()
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2,3.5]}`), Config: json.RawMessage(`{"scale":2}`)})
	require.NoError(t, err)
	require.Equal(t, job.StateQueued, e.State)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.Equal(t, job.StatusOptimal, e.SolverStatus)
	require.JSONEq(t, `{"scale":2,"mode":"fast"}`, string(e.Config))
	require.JSONEq(t, `{"sum":13}`, string(b.solution(t, e.ID)))
	logs, err := b.svc.Logs(ctx, e.ID, "", 100)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "summed", logs[0].Message)
	require.EqualValues(t, 13.0/2, logs[0].Attrs["total"])
}

// TestTwoStepSubmit: on Redis Cluster the record and the asynq task are
// written in two steps (their keys live in different slots); the same
// life results.
func TestTwoStepSubmit(t *testing.T) {
	b := setup(t, setupOpts{noWork: true, defs: []*job.Definition{sumJob()}})
	solvekit.SetFusedSubmit(b.svc, false) // before Work, which reads it
	ctx := context.Background()
	go func() { _ = b.svc.Work(ctx) }() // Close (setup's cleanup) stops it
	e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[4,5]}`)})
	require.NoError(t, err)
	e = waitFor(t, b, e.ID, 10*time.Second)
	require.Equal(t, job.StateSucceeded, e.State)
	require.JSONEq(t, `{"sum":9}`, string(b.solution(t, e.ID)))
}

// TestLogsStoredBeforeTheEnd: whoever sees an execution finished sees all
// of its log, even records logged just before the job returned.
func TestLogsStoredBeforeTheEnd(t *testing.T) {
	chatty := job.Async("chatty", func(ctx context.Context, jc *job.Context) (any, error) {
		for i := 0; i < 300; i++ {
			jc.Logger.Info("line", "i", i)
		}
		return map[string]int{"n": 300}, nil
	})
	b := setup(t, setupOpts{defs: []*job.Definition{chatty}})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 10; i++ {
		e, err := b.svc.Submit(ctx, solvekit.SubmitRequest{JobType: "chatty", Instance: json.RawMessage(`{}`)})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		e := waitFor(t, b, id, 20*time.Second)
		require.Equal(t, job.StateSucceeded, e.State)
		logs, err := b.svc.Logs(ctx, id, "", 1000)
		require.NoError(t, err)
		require.Len(t, logs, 300, id)
	}
}
