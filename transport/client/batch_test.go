package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// TestCreateExecutions: POST /executions:batch creates every execution of
// the batch with its job key, in order, and they run; an invalid item
// fails the batch with a 422 pointing at it and nothing stored.
func TestCreateExecutions(t *testing.T) {
	_, ctx, c := aliceEnv(t)
	reqs := make([]api.ExecutionCreate, 5)
	for i := range reqs {
		reqs[i] = api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(fmt.Sprintf(`{"values":[%d]}`, i)),
			Metadata: map[string]string{"batch": "one"}}
	}
	waitCtx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	es, err := c.CreateExecutions(ctx, reqs)
	require.NoError(t, err)
	require.Len(t, es, len(reqs))
	for _, e := range es {
		require.NotEmpty(t, e.JobKey)
		done, err := c.WaitExecution(waitCtx, e.ID)
		require.NoError(t, err)
		require.EqualValues(t, "succeeded", done.State)
	}

	bad := append([]api.ExecutionCreate{}, reqs...)
	bad[3] = api.ExecutionCreate{JobType: "no-such-type", Instance: json.RawMessage(`{}`)}
	for i := range bad {
		bad[i].Metadata = map[string]string{"batch": "two"}
	}
	_, err = c.CreateExecutions(ctx, bad)
	var p *api.Problem
	require.True(t, errors.As(err, &p), "%v", err)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.Errors)
	require.Equal(t, "/executions/3/job_type", p.Errors[0].Pointer)
	list, err := c.ListExecutions(ctx, client.ExecutionFilter{Metadata: map[string]string{"batch": "two"}}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, list.Executions, "nothing of an invalid batch is stored")

	_, err = c.CreateExecutions(ctx, nil)
	require.True(t, errors.As(err, &p), "%v", err)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
}
