// Package queue moves execution attempts through Redis with asynq: a Client
// that enqueues one task per attempt (TaskID = execution id + attempt, so
// enqueueing twice is harmless), and a Server that runs a handler for them
// on a pool of workers. Records live in package store; asynq only carries
// "run attempt N of execution X".
//
// On a single Redis node a task begins and ends in the store's own scripts:
// NewTask builds it in asynq's layout for the script that creates its
// record, and a handler's Completion names it for the script that writes
// the attempt's end, so that asynq's separate enqueue and done steps (a
// round trip and a script each) are not needed. Tests check that asynq's
// Inspector and Server see such tasks exactly as they see their own.
//
// This package is the only one that knows asynq's private Redis layout:
// key names, the TaskMessage encoding, the done script's arguments (which
// the Server's client answers for tasks its handlers completed) and the
// retire script. The store's scripts write and complete tasks only with
// the keys and arguments NewTask and Completion.Task build here.
//
// That layout is only used when it is known: LinkedVersion reads the asynq
// version linked into the binary, and ChoosePath picks the fused path only
// for a release listed in LayoutTested, on one Redis node, and when the
// configuration does not force asynq's public API. Otherwise (the public
// path, Path.Fused false) tasks are enqueued with asynq's Client and
// completed by asynq's Server, and, unless the release is a tested one on
// Redis Cluster (Path.Layout), HasTasks asks asynq's Inspector and Retire
// leaves dead workers' tasks to asynq's own recovery.
package queue
