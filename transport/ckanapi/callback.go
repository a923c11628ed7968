package ckanapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// CallbackFormat is the callback format (solvekit.SubmitRequest's
// CallbackFormat) of the executions submitted through this API with a
// result_url: the job dict, as GET /job/{id} shows it, POSTed with the
// submitter's api_key as ckan-service-provider sends it. Importing this
// package registers it, so any process that imports it (not only the one
// serving the API) delivers these callbacks.
const CallbackFormat = "ckan"

func init() { solvekit.RegisterCallbackFormat(CallbackFormat, callbackFormat) }

// callbackFormat builds the ckan callback of execution e: its job dict
// (every log record), and the api_key in the Authorization header, or,
// for a key of the form "Header:value", in that header, as
// ckan-service-provider's send_result does.
func callbackFormat(ctx context.Context, svc *solvekit.Service, e *job.Execution, apiKey string) ([]byte, http.Header, error) {
	d, err := jobDict(ctx, svc, e, -1)
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if apiKey != "" {
		name, key, ok := strings.Cut(apiKey, ":")
		if !ok {
			name, key = "Authorization", apiKey
		}
		h.Set(name, key)
	}
	return body, h, nil
}
