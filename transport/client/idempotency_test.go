package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/api"
)

// TestCreateExecutionOnce: a repeated POST /executions with one
// Idempotency-Key answers 200 with the first execution (no job key); the
// key with another body is 422; concurrent repeats make one execution; a
// chosen id names the execution and is 409 when taken.
func TestCreateExecutionOnce(t *testing.T) {
	_, ctx, c := aliceEnv(t)
	req := api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"values":[1,2]}`)}
	first, replayed, err := c.CreateExecutionOnce(ctx, "order-1", req, 0)
	require.NoError(t, err)
	require.False(t, replayed)
	require.NotEmpty(t, first.JobKey)

	again, replayed, err := c.CreateExecutionOnce(ctx, "order-1", req, 0)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, first.ID, again.ID)
	require.Empty(t, again.JobKey, "only the first answer shows the job key")

	// A replay that waits answers the first execution once it has ended.
	waited, replayed, err := c.CreateExecutionOnce(ctx, "order-1", req, patience)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, first.ID, waited.ID)
	require.EqualValues(t, "succeeded", waited.State)

	_, _, err = c.CreateExecutionOnce(ctx, strings.Repeat("k", 256), req, 0)
	var tooLong *api.Problem
	require.True(t, errors.As(err, &tooLong), "%v", err)
	require.Equal(t, http.StatusBadRequest, tooLong.Status)

	other := req
	other.Instance = json.RawMessage(`{"values":[9]}`)
	_, _, err = c.CreateExecutionOnce(ctx, "order-1", other, 0)
	var p *api.Problem
	require.True(t, errors.As(err, &p), "%v", err)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)

	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := c.CreateExecutionOnce(ctx, "order-2", req, 0)
			if err == nil {
				ids[i] = e.ID
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	require.NotEmpty(t, ids[0])
	require.NotEqual(t, first.ID, ids[0])

	named := req
	named.ID = "alice-run-1"
	e, err := c.CreateExecution(ctx, named, 0)
	require.NoError(t, err)
	require.Equal(t, "alice-run-1", e.ID)
	_, err = c.CreateExecution(ctx, named, 0)
	require.True(t, errors.As(err, &p), "%v", err)
	require.Equal(t, http.StatusConflict, p.Status)
	named.ID = "bad:id"
	_, err = c.CreateExecution(ctx, named, 0)
	require.True(t, errors.As(err, &p), "%v", err)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
}
