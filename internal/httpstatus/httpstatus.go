// Package httpstatus remembers the status an HTTP handler wrote, for the
// middleware of prom and tracing.
package httpstatus

import "net/http"

// Writer wraps a ResponseWriter and remembers the status written through
// it: Status is 200 when the handler wrote a body without a header.
type Writer struct {
	http.ResponseWriter
	// Status is the status written, 200 until one is.
	Status int
	wrote  bool
}

// New wraps w.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w, Status: http.StatusOK} }

// WriteHeader records the first status and passes it on.
func (w *Writer) WriteHeader(code int) {
	if !w.wrote {
		w.Status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write passes b on; the status is then fixed.
func (w *Writer) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush (server-sent
// events) and deadlines.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
