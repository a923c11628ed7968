//go:build !linux

package redistest

import (
	"errors"
	"os"
	"os/exec"
)

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// Stop still stops the server.
func dieWithParent(*exec.Cmd) {}

// signalStop is not offered here (Freeze fails the test).
func signalStop(*os.Process, bool) error {
	return errors.New("SIGSTOP is used on Linux only")
}
