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
package queue
