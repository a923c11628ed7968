// Package queue moves execution attempts through Redis with asynq: a Client
// that enqueues one task per attempt (TaskID = execution id + attempt, so
// enqueueing twice is harmless), and a Server that runs a handler for them
// on a pool of workers. Records live in package store; asynq only carries
// "run attempt N of execution X".
package queue
