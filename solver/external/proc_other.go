//go:build !unix

package external

import "os/exec"

// ownGroup does nothing where there are no process groups.
func ownGroup(*exec.Cmd) {}

// interrupt kills the solver: without SIGINT there is no graceful stop, so
// only the best objective from its log is kept.
func interrupt(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// killGroup kills the solver process.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
