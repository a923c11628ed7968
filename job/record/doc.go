// Package record holds solvekit's data records and their vocabulary:
// executions, states and solver statuses, stored instances, files, log
// records and events, and the Error type with its codes. It depends on the
// standard library only, so that the REST wire types (transport/api) and
// the Go client can use them without linking the rest of package job.
//
// Package job re-exports every name here (job.Execution is
// record.Execution); most code should use those.
package record
