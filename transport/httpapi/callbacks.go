package httpapi

import (
	"net/http"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/api"
)

// listCallbacks is GET /executions/{id}/callbacks.
func (h *handler) listCallbacks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return listOfExecution(h, w, r, p, h.svc.Callbacks, func(atts []job.CallbackAttempt, n int64) api.CallbackList {
		return api.CallbackList{Attempts: atts, TotalEntries: n}
	})
}
