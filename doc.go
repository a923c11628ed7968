// Package solvekit turns Go functions into sync or async solver jobs.
//
// A Service is the only door: create one with New, register job types
// (package job) with Register, submit executions with Submit (their
// instance and config are validated against the job type's JSON Schemas),
// and run workers with Work, in this process or in any other on the same
// Redis. Async executions are queued in Redis through asynq; sync ones
// run inside Submit. Either way every execution is recorded with its
// state, solution, logs, progress and incumbents, and survives worker
// crashes: a worker's heartbeat stops, and the execution is requeued as a
// new attempt within seconds.
//
// What a Service offers, by concern:
//
//   - Executions: Submit, Get, Wait, Cancel, Relaunch, List, ListPage
//     (with page tokens), Update, Delete, DeleteFinishedBefore, Counts,
//     Solution, Incumbent, ExecutionInput, CheckJobKey, Reindex.
//   - Their history: Logs, LogCount, and Follow, an iterator over state
//     changes, progress, incumbents and log records as they happen.
//   - Stored instances, reusable by many executions: CreateInstance,
//     GetInstance, InstanceData, ListInstances, ListInstancesPage, UpdateInstance,
//     DeleteInstance. Files attached to an execution: AddFiles, Files, File.
//   - Operations: Queues, PauseQueue, QueueNames, Workers, PauseJobType,
//     JobTypePaused, Ping.
//   - Retention: finished executions and unused instances are removed
//     after documented periods (Config.SucceededRetention and the fields
//     after it), and large files can live in a BlobStore.
//   - Extension points: Config.Middleware wraps every job's func (timing,
//     tracing, metrics), and Subscribe hears every state change this
//     process makes (metrics, callbacks).
//
// Errors are *job.Error values whose Code says what happened
// (job.ErrNotFound, job.ErrInvalid with every violation, job.ErrConflict,
// job.ErrUnavailable when Redis cannot be reached, job.ErrOutcomeUnknown
// when a write's reply was lost); test them with errors.Is.
//
// With no Redis configured, New starts an embedded in-memory Redis
// (miniredis) that listens on nothing, so a program runs with zero set-up;
// the same asynq and go-redis code runs on it.
//
// The REST surface is in transport/httpapi (its wire types in
// transport/api, a Go client in transport/client), solver plugins
// (cornflow-style apps, CBC and GLPK) in package solver, and a kit for
// testing job types in solvekittest. The engine (Redis records and
// scripts, the asynq bridge) is internal: nothing public exposes it.
package solvekit
