package record

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an Error; each code maps to one HTTP status in the REST
// layer, so callers of the Go API and of the REST API see the same kinds.
type Code string

// Error codes.
const (
	CodeInvalid      Code = "invalid"      // 422: data breaks a schema or a rule
	CodeBadRequest   Code = "bad_request"  // 400: malformed request
	CodeNotFound     Code = "not_found"    // 404
	CodeConflict     Code = "conflict"     // 409: state does not allow the operation
	CodeUnauthorized Code = "unauthorized" // 401
	CodeForbidden    Code = "forbidden"    // 403
	CodeUnavailable  Code = "unavailable"  // 503: not served now (Redis down or loading, job type paused); try again
	CodeInternal     Code = "internal"     // 500
	CodeTooLarge     Code = "too_large"    // 413
	CodeTooMany      Code = "too_many"     // 429

	// CodeOutcomeUnknown (504) says that a write was sent but its reply was
	// lost (the connection to Redis broke): it may or may not have been
	// applied, so read before repeating it. Submit returns it only when
	// the execution may exist, naming its id.
	CodeOutcomeUnknown Code = "outcome_unknown"
)

// Violation is one schema or rule violation, located by a JSON pointer into
// the document that was checked (RFC 6901, "" for the root).
type Violation struct {
	// Pointer locates the offending value, e.g. "/items/2/weight".
	Pointer string `json:"pointer"`
	// Keyword is the schema keyword (or validator tag) that failed, e.g. "minimum".
	Keyword string `json:"keyword,omitempty"`
	// Message says what is wrong in plain words.
	Message string `json:"message"`
}

// Error is the error type every solvekit layer returns for expected
// conditions. Use errors.As to read its Code; the sentinel errors below
// match with errors.Is by code.
type Error struct {
	Code       Code        `json:"code"`
	Message    string      `json:"message"`
	Violations []Violation `json:"violations,omitempty"`
	// Err is the underlying cause, if any (e.g. the Redis connection
	// error behind CodeUnavailable). It is for logs and errors.Is/As
	// (Unwrap returns it); Message is what users see.
	Err error `json:"-"`
}

// Unwrap returns the underlying cause, so that errors.Is and errors.As see
// through an Error to it.
func (e *Error) Unwrap() error { return e.Err }

// Error formats the message followed by each violation as "pointer:
// message", then the cause after a colon when there is one.
func (e *Error) Error() string {
	if len(e.Violations) == 0 {
		if e.Err != nil {
			return e.Message + ": " + e.Err.Error()
		}
		return e.Message
	}
	var b strings.Builder
	b.WriteString(e.Message)
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		p := v.Pointer
		if p == "" {
			p = "/"
		}
		fmt.Fprintf(&b, "%s: %s", p, v.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and friends match any *Error with
// the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Errorf builds an *Error with a code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors to compare with errors.Is.
var (
	ErrNotFound     = &Error{Code: CodeNotFound}
	ErrInvalid      = &Error{Code: CodeInvalid}
	ErrConflict     = &Error{Code: CodeConflict}
	ErrBadRequest   = &Error{Code: CodeBadRequest}
	ErrUnauthorized = &Error{Code: CodeUnauthorized}
	ErrForbidden    = &Error{Code: CodeForbidden}
	ErrUnavailable  = &Error{Code: CodeUnavailable}
	// ErrOutcomeUnknown matches errors whose write may or may not have
	// been applied (CodeOutcomeUnknown).
	ErrOutcomeUnknown = &Error{Code: CodeOutcomeUnknown}
)

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// CodeInternal otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Failure is an expected job failure: the job ran and decided the input
// cannot be solved or processed. It is recorded with its message and
// details and never retried. Create one with Fail or FailWith.
type Failure struct {
	// Message says what went wrong, for the execution record.
	Message string
	// Details is any JSON-encodable context (stored with the execution).
	Details any
	// Err is the underlying error, if any (see Unwrap).
	Err error
}

// Unwrap returns the underlying error, so errors.Is and errors.As see
// through a failure.
func (f *Failure) Unwrap() error { return f.Err }

// FailWith marks err as an expected failure: recorded with err's message
// and the details, never retried, and still matchable with errors.Is.
func FailWith(err error, details any) error {
	if err == nil {
		return nil
	}
	return &Failure{Message: err.Error(), Details: details, Err: err}
}

// Error returns the failure message.
func (f *Failure) Error() string { return f.Message }

// Fail returns an expected failure with a message and optional details
// (any JSON-encodable value). Return it from a job to fail the execution
// without retries.
func Fail(message string, details any) error {
	return &Failure{Message: message, Details: details}
}

// ErrorInfo is what an execution record keeps about why it failed.
type ErrorInfo struct {
	// Kind is one of "failure" (job.Fail), "error" (unexpected error, retries
	// exhausted), "panic", "invalid_solution", "lost" or "stopped_no_result".
	Kind string `json:"kind"`
	// Message is the error text.
	Message string `json:"message"`
	// Details are the job's own details (job.Fail), if any.
	Details any `json:"details,omitempty"`
	// Violations lists solution schema violations (kind invalid_solution),
	// or those of an input the job could not decode (kind failure).
	Violations []Violation `json:"violations,omitempty"`
	// Stack is the goroutine stack of a recovered panic.
	Stack string `json:"stack,omitempty"`
}
