// Package solvekit turns Go functions into sync or async solver jobs.
//
// Register job types (package job) on a Service, submit executions with
// their instance and config (validated against the job type's JSON
// Schemas), and run workers with Work. Async executions are queued in Redis
// through asynq and run by workers on one or many machines; sync executions
// run inside Submit. Either way every execution is recorded with its state,
// solution, logs, progress and incumbents (package store), and survives
// worker crashes: a worker's heartbeat stops, and the execution is requeued
// as a new attempt within seconds.
//
// With no Redis configured, New starts an embedded in-memory Redis
// (miniredis), so a program runs with zero set-up; the same asynq and
// go-redis code runs on it.
//
// The REST surface lives in transport/httpapi, solver plugins (cornflow
// style apps, CBC and GLPK) in package solver.
package solvekit
