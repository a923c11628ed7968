package job

import "github.com/solvekit/solvekit/job/record"

// The records of executions and their vocabulary are defined in package
// record, which needs nothing but the standard library (so that the REST
// wire types and the Go client link none of job's dependencies), and are
// the same types here: job.Execution is record.Execution.

type (
	// CallbackAttempt is record.CallbackAttempt.
	CallbackAttempt = record.CallbackAttempt
	// CallbackState is record.CallbackState.
	CallbackState = record.CallbackState
	// CatchUp is record.CatchUp.
	CatchUp = record.CatchUp
	// CheckResult is record.CheckResult.
	CheckResult = record.CheckResult
	// Code is record.Code.
	Code = record.Code
	// Error is record.Error.
	Error = record.Error
	// ErrorInfo is record.ErrorInfo.
	ErrorInfo = record.ErrorInfo
	// Event is record.Event.
	Event = record.Event
	// Execution is record.Execution.
	Execution = record.Execution
	// Failure is record.Failure.
	Failure = record.Failure
	// File is record.File.
	File = record.File
	// Instance is record.Instance.
	Instance = record.Instance
	// Kind is record.Kind.
	Kind = record.Kind
	// LogRecord is record.LogRecord.
	LogRecord = record.LogRecord
	// Schedule is record.Schedule.
	Schedule = record.Schedule
	// SolverStatus is record.SolverStatus.
	SolverStatus = record.SolverStatus
	// State is record.State.
	State = record.State
	// Violation is record.Violation.
	Violation = record.Violation
)

const (
	// CallbackPending is record.CallbackPending.
	CallbackPending = record.CallbackPending
	// CallbackDelivered is record.CallbackDelivered.
	CallbackDelivered = record.CallbackDelivered
	// CallbackFailed is record.CallbackFailed.
	CallbackFailed = record.CallbackFailed
	// CatchUpOnce is record.CatchUpOnce.
	CatchUpOnce = record.CatchUpOnce
	// CatchUpSkip is record.CatchUpSkip.
	CatchUpSkip = record.CatchUpSkip
	// CodeBadRequest is record.CodeBadRequest.
	CodeBadRequest = record.CodeBadRequest
	// CodeConflict is record.CodeConflict.
	CodeConflict = record.CodeConflict
	// CodeForbidden is record.CodeForbidden.
	CodeForbidden = record.CodeForbidden
	// CodeInternal is record.CodeInternal.
	CodeInternal = record.CodeInternal
	// CodeInvalid is record.CodeInvalid.
	CodeInvalid = record.CodeInvalid
	// CodeNotFound is record.CodeNotFound.
	CodeNotFound = record.CodeNotFound
	// CodeOutcomeUnknown is record.CodeOutcomeUnknown.
	CodeOutcomeUnknown = record.CodeOutcomeUnknown
	// CodeTooLarge is record.CodeTooLarge.
	CodeTooLarge = record.CodeTooLarge
	// CodeTooMany is record.CodeTooMany.
	CodeTooMany = record.CodeTooMany
	// CodeUnauthorized is record.CodeUnauthorized.
	CodeUnauthorized = record.CodeUnauthorized
	// CodeUnavailable is record.CodeUnavailable.
	CodeUnavailable = record.CodeUnavailable
	// KindAsync is record.KindAsync.
	KindAsync = record.KindAsync
	// KindSync is record.KindSync.
	KindSync = record.KindSync
	// StateFailed is record.StateFailed.
	StateFailed = record.StateFailed
	// StateInvalid is record.StateInvalid.
	StateInvalid = record.StateInvalid
	// StateLost is record.StateLost.
	StateLost = record.StateLost
	// StateQueued is record.StateQueued.
	StateQueued = record.StateQueued
	// StateScheduled is record.StateScheduled.
	StateScheduled = record.StateScheduled
	// StateRunning is record.StateRunning.
	StateRunning = record.StateRunning
	// StateStopped is record.StateStopped.
	StateStopped = record.StateStopped
	// StateSucceeded is record.StateSucceeded.
	StateSucceeded = record.StateSucceeded
	// StateTimedOut is record.StateTimedOut.
	StateTimedOut = record.StateTimedOut
	// StatusFeasible is record.StatusFeasible.
	StatusFeasible = record.StatusFeasible
	// StatusInfeasible is record.StatusInfeasible.
	StatusInfeasible = record.StatusInfeasible
	// StatusNotSolved is record.StatusNotSolved.
	StatusNotSolved = record.StatusNotSolved
	// StatusOptimal is record.StatusOptimal.
	StatusOptimal = record.StatusOptimal
	// StatusTimeLimit is record.StatusTimeLimit.
	StatusTimeLimit = record.StatusTimeLimit
	// StatusUnbounded is record.StatusUnbounded.
	StatusUnbounded = record.StatusUnbounded
)

var (
	// ErrBadRequest is record.ErrBadRequest.
	ErrBadRequest = record.ErrBadRequest
	// ErrConflict is record.ErrConflict.
	ErrConflict = record.ErrConflict
	// ErrForbidden is record.ErrForbidden.
	ErrForbidden = record.ErrForbidden
	// ErrInvalid is record.ErrInvalid.
	ErrInvalid = record.ErrInvalid
	// ErrNotFound is record.ErrNotFound.
	ErrNotFound = record.ErrNotFound
	// ErrOutcomeUnknown is record.ErrOutcomeUnknown.
	ErrOutcomeUnknown = record.ErrOutcomeUnknown
	// ErrUnauthorized is record.ErrUnauthorized.
	ErrUnauthorized = record.ErrUnauthorized
	// ErrUnavailable is record.ErrUnavailable.
	ErrUnavailable = record.ErrUnavailable
	// FileNamePattern is record.FileNamePattern.
	FileNamePattern = record.FileNamePattern
	// SolverStatuses is record.SolverStatuses.
	SolverStatuses = record.SolverStatuses
	// States is record.States.
	States = record.States
)

// Errorf returns an *Error with the code and a formatted message (see
// record.Errorf).
func Errorf(code Code, format string, args ...any) *Error {
	return record.Errorf(code, format, args...)
}

// ErrorCode returns the Code of the first *Error in err's chain (see
// record.ErrorCode).
func ErrorCode(err error) Code { return record.ErrorCode(err) }

// Fail returns an expected failure of a job: never retried, stored with
// the execution (see record.Fail).
func Fail(message string, details any) error { return record.Fail(message, details) }

// FailWith is Fail for an underlying error (see record.FailWith).
func FailWith(err error, details any) error { return record.FailWith(err, details) }
