// Package job holds solvekit's domain types: job definitions (sync and
// async, untyped and typed), middleware around a job's func, the job
// Context a running job sees, execution records with their states and
// solver statuses, and the errors shared by every layer.
//
// The records and the error vocabulary (Execution, State, SolverStatus,
// Error and its codes, Instance, File, LogRecord, Event) are defined in
// package job/record, which needs only the standard library, and are the
// same types here under the same names; use them from job. Package job
// itself depends on the standard library and validator/v10 (for the
// `validate:` tags of typed inputs), so every other package can import it.
package job
