// Package proccpu reads the CPU time this process has used, for
// benchmarks that report CPU per operation beside wall time (on a shared
// machine, wall time swings with the load; CPU time much less).
package proccpu

import "time"

// Used returns the CPU time (user + system, every thread) this process has
// used so far, or -1 where it is unknown.
func Used() time.Duration { return used() }
