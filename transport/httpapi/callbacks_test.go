package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCallbacksDocumented: the OpenAPI document describes GET
// /executions/{id}/callbacks with its attempts, result_url on the create
// body, and the callback summary on the execution.
func TestCallbacksDocumented(t *testing.T) {
	e := newEnv(t, envOpts{})
	item := e.doc.Paths.Find("/executions/{id}/callbacks")
	require.NotNil(t, item, "route documented")
	require.NotNil(t, item.Get)
	require.Equal(t, "listExecutionCallbacks", item.Get.OperationID)
	resp := item.Get.Responses.Value("200")
	require.NotNil(t, resp)
	schema := resp.Value.Content.Get("application/json").Schema
	require.NotNil(t, schema)
	b, err := schema.MarshalJSON()
	require.NoError(t, err)
	doc, err := e.doc.MarshalJSON()
	require.NoError(t, err)
	s := string(b) + string(doc)
	for _, want := range []string{"attempts", "status_code", "duration_ms", "delivery", "result_url", "callback_state", "callback_attempts"} {
		require.Contains(t, s, want)
	}
}
