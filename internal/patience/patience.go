// Package patience bounds the waits of solvekit's tests on loaded
// machines. A test waits for an event (a state, a log line, an incumbent,
// a process gone) and gives up only after a bound, so that a hang fails
// instead of blocking; it never compares elapsed time with a budget. The
// bound is what the wait needs on an idle machine times Factor: a machine
// busy with other work (CI runs the timing-sensitive packages a second
// time beside a CPU hog) makes the tests slower, never failing.
package patience

import (
	"os"
	"strconv"
	"time"
)

// Factor multiplies every bound: SOLVEKIT_TEST_PATIENCE when it holds a
// number of at least 1, else 5.
var Factor = factor(os.Getenv("SOLVEKIT_TEST_PATIENCE"))

func factor(env string) float64 {
	if f, err := strconv.ParseFloat(env, 64); err == nil && f >= 1 {
		return f
	}
	return 5
}

// Scale returns the bound for a wait that takes up to d on an idle
// machine: d × Factor.
func Scale(d time.Duration) time.Duration { return time.Duration(float64(d) * Factor) }
