package httpapi

import (
	"net/http"

	"github.com/solvekit/solvekit/transport/api"
)

// getAPIKey answers GET /apiKeys/{id}, the Location of POST /apiKeys: the
// key without its secret, for its owner and admins (404 for others, as
// DELETE answers).
func (h *handler) getAPIKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	k, err := h.ownAPIKey(r, p)
	return okJSON(w, k, err)
}

// ownAPIKey reads the API key the path names, if p owns it or is an
// admin; anyone else gets 404, as if it did not exist.
func (h *handler) ownAPIKey(r *http.Request, p *Principal) (*api.APIKey, error) {
	k, err := byPath(r, "API key", h.users.GetAPIKey)
	if err != nil {
		return nil, err
	}
	if k.UserID != p.ID && p.Role != api.RoleAdmin {
		return nil, notFoundErr("API key %q not found", k.ID)
	}
	return k, nil
}
