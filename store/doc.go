// Package store keeps solvekit's records in Redis through go-redis v9:
// executions (a metadata hash, with instance, solution and incumbent kept
// apart from it), their log records and event streams, instances, and the
// sorted-set indexes that make listing by created time, state, job type,
// owner and instance cost O(log n + limit).
//
// Every state transition is one Lua script, so it is atomic: a terminal
// state is written once and never left (only an explicit relaunch starts a
// new attempt), and a late write from an attempt that is no longer current
// is ignored.
//
// All keys share one Redis Cluster hash tag (the prefix, "{solvekit}" by
// default) so that the scripts stay atomic on Cluster too; asynq shards its
// own keys by queue.
package store
