package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// An execution created over REST with a result_url is called back with
// its Execution JSON, signed; the attempt is listed by
// GET /executions/{id}/callbacks and summarised on the execution.
func TestCallbackOverREST(t *testing.T) {
	secret := []byte("rest-callback-secret")
	bodies := make(chan []byte, 4)
	sigs := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sigs <- r.Header.Get(solvekit.CallbackSignatureHeader)
		bodies <- b
	}))
	defer rcv.Close()
	e := newEnvConfig(t, solvekit.Config{CallbackSecret: secret, CallbackAllowPrivate: true, CallbackInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c := client.New(e.base, client.WithHeader("X-Session", "alice-session"))

	ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":2}`), ResultURL: rcv.URL + "/done"}, 0)
	require.NoError(t, err)
	require.Equal(t, rcv.URL+"/done", ex.ResultURL)

	var body []byte
	select {
	case body = <-bodies:
	case <-ctx.Done():
		t.Fatal("no callback received")
	}
	require.NoError(t, solvekit.VerifyCallback(secret, <-sigs, body, time.Minute))
	var got api.Execution
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, ex.ID, got.ID)
	require.Equal(t, record.StateSucceeded, got.State)
	require.Equal(t, rcv.URL+"/done", got.ResultURL)

	var list *api.CallbackList
	require.Eventually(t, func() bool {
		list, err = c.Callbacks(ctx, ex.ID)
		require.NoError(t, err)
		return len(list.Attempts) == 1
	}, patience, 10*time.Millisecond)
	require.Equal(t, 200, list.Attempts[0].StatusCode)
	require.Equal(t, ex.ID+":1", list.Attempts[0].Delivery)
	got2, err := c.GetExecution(ctx, ex.ID)
	require.NoError(t, err)
	require.Equal(t, record.CallbackDelivered, got2.CallbackState)
	require.Equal(t, 1, got2.CallbackAttempts)

	_, err = c.Callbacks(ctx, "no-such-execution")
	require.Equal(t, http.StatusNotFound, client.StatusCode(err))

	// A result_url that is not an absolute http(s) URL is refused.
	_, err = c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":2}`), ResultURL: "file:///etc/passwd"}, 0)
	require.Equal(t, http.StatusUnprocessableEntity, client.StatusCode(err), "%v", err)
}
