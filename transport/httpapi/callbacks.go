package httpapi

import (
	"net/http"

	"github.com/solvekit/solvekit/transport/api"
)

// listCallbacks is GET /executions/{id}/callbacks.
func (h *handler) listCallbacks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	e, err := h.execution(r, p, false)
	if err != nil {
		return err
	}
	atts, err := h.svc.Callbacks(r.Context(), e.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.CallbackList{Attempts: atts, TotalEntries: int64(len(atts))})
	return nil
}
