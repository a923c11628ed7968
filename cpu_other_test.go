//go:build !unix

package solvekit_test

import "time"

// processCPU is the CPU time this process has used: unknown here.
func processCPU() time.Duration { return -1 }
