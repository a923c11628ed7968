package record

import "time"

// CallbackState is where the delivery of an execution's result_url
// callback stands.
type CallbackState string

// Callback states.
const (
	// CallbackPending: the execution ended and the callback is due or
	// being retried.
	CallbackPending CallbackState = "pending"
	// CallbackDelivered: the receiver answered 2xx.
	CallbackDelivered CallbackState = "delivered"
	// CallbackFailed: every attempt failed within the callback's maximum
	// age (or the URL was refused); no more are made.
	CallbackFailed CallbackState = "failed"
)

// CallbackAttempt is one try to deliver an execution's callback to its
// result_url.
type CallbackAttempt struct {
	// Delivery identifies the delivery the attempt belongs to, sent in the
	// Solvekit-Delivery header: "<execution id>:<execution attempt>", the
	// same for every retry of one terminal state, so that a receiver
	// can drop duplicates (delivery is at least once).
	Delivery string `json:"delivery"`
	// N is the attempt's number within its delivery, from 1.
	N int `json:"n"`
	// Time is when the request was sent (or refused before sending).
	Time time.Time `json:"time"`
	// StatusCode is the receiver's HTTP status; 0 when no answer came.
	StatusCode int `json:"status_code,omitempty"`
	// Error says why the attempt failed (a refused address, a timeout, a
	// non-2xx status); empty when it succeeded.
	Error string `json:"error,omitempty"`
	// DurationMS is how long the attempt took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
}
