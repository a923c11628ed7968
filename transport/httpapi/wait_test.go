package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/logtest"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// GET /executions/{id}?wait= reads the record once its done subscription
// is in place: it answers at once for a record the caller may not see
// (404, however long the wait asked), at the wait's end with the record as
// it is, and at the execution's end with its terminal record.
func TestGetExecutionWait(t *testing.T) {
	e := newEnv(t, envOpts{opts: httpapi.Options{JWTSecret: []byte("0123456789abcdef0123456789abcdef")}})
	ctx := context.Background()
	p := e.addUser("waiter", api.RolePlanner)
	other := e.addUser("other", api.RolePlanner)
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)

	// Another planner: 404 without waiting the 5 minutes it asks for.
	octx, cancel := context.WithTimeout(ctx, patience.Scale(20*time.Second))
	defer cancel()
	_, err = other.c.With(client.WithLongPoll(5*time.Minute)).WaitExecution(octx, ex.ID)
	require.Equal(t, 404, client.StatusCode(err), "%v", err)

	// The wait passes: the record as it is.
	sctx, scancel := context.WithTimeout(ctx, patience.Scale(time.Second))
	defer scancel()
	got, err := p.c.With(client.WithLongPoll(50*time.Millisecond)).WaitExecution(sctx, ex.ID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotNil(t, got, "a long poll that ran out answers the record")
	require.False(t, got.State.Terminal())

	// Stopped while a long poll waits: the terminal record.
	done := make(chan *api.Execution, 1)
	go func() {
		x, _ := p.c.WaitExecution(ctx, ex.ID)
		done <- x
	}()
	_, err = p.c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
	select {
	case x := <-done:
		require.NotNil(t, x)
		require.Equal(t, "stopped", string(x.State))
	case <-time.After(patience.Scale(30 * time.Second)):
		t.Fatal("the long poll did not answer the end")
	}
}

// A client that drops a long poll is not a server error: nothing is logged
// above debug, where "client gone" says what happened.
func TestDroppedLongPollIsNotAnError(t *testing.T) {
	var logged logtest.Buffer
	e := newEnv(t, envOpts{opts: httpapi.Options{Logger: logged.Logger(slog.LevelDebug)}})
	admin := e.admin()
	ctx := context.Background()
	ex, err := admin.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "slow", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = admin.c.Do(short, client.Request{Method: "GET", Path: "/executions/" + ex.ID, Query: url.Values{"wait": {"30s"}}}, nil)
	require.Error(t, err)
	require.Eventually(t, func() bool { return strings.Contains(logged.String(), "client gone") },
		patience.Scale(10*time.Second), 10*time.Millisecond, "the dropped poll was not seen: %s", logged.String())
	require.NotContains(t, logged.String(), "level=ERROR")
	_, err = admin.c.StopExecution(ctx, ex.ID)
	require.NoError(t, err)
}
