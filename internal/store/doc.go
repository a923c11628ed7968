// Package store keeps solvekit's records in Redis through go-redis v9:
// executions (a metadata hash, with instance, solution and incumbent kept
// apart from it, a small input inside it), their log records and event
// streams, instances, and the sorted-set indexes (keys.go) that serve
// every listing filter, and the pairs state × job type, owner × state and
// job type × owner, by creation time in O(k log n + limit) for the k sets
// merged (merge.lua), with page tokens that stay valid at any depth.
//
// Every state transition is one Lua script, so it is atomic: a terminal
// state is written once and never left (only an explicit relaunch starts a
// new attempt), and a late write from an attempt that is no longer current
// is ignored.
//
// All keys share one Redis Cluster hash tag (the prefix, "{solvekit}" by
// default) so that the scripts stay atomic on Cluster too; asynq shards its
// own keys by queue.
//
// Outages come back typed (Classify): job.CodeUnavailable when Redis could
// not be reached or declined to serve (after retries for
// Options.RetryWindow), and, for the hot-path writes, job.CodeOutcomeUnknown
// when a write's reply was lost and it may have been applied. Which writes
// are sent again after a lost reply is the batcher's rule (batch.go).
package store
