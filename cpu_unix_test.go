//go:build unix

package solvekit_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used, or -1
// when unknown.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
