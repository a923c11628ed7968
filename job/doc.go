// Package job holds solvekit's domain types: job definitions (sync and
// async, untyped and typed), the job Context a running job sees, execution
// records with their states and solver statuses, and the errors shared by
// every layer.
//
// It depends on nothing but the standard library and validator/v10, so
// every other package (registry, store, queue, httpapi, solver) can import it.
package job
