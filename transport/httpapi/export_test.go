package httpapi

import (
	"net/http"
	"time"
)

// RegisteredPatterns returns the ServeMux patterns New registered.
func RegisteredPatterns(h http.Handler) []string { return h.(*handler).registered }

// MuxPattern returns the pattern the private mux picks for r ("" or "/"
// when none).
func MuxPattern(h http.Handler, r *http.Request) string {
	_, p := h.(*handler).mux.Handler(r)
	return p
}

// SetKeepAlive sets how long an idle event stream blocks before a
// keep-alive comment (tests shorten it).
func SetKeepAlive(d time.Duration) { keepAlive = d }
