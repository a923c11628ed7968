//go:build unix

package external

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the solver in a process group of its own, so that
// signals reach it and everything it started, and nothing else.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// interrupt asks the solver's process group to stop (SIGINT).
func interrupt(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }

// killGroup kills the solver's process group (SIGKILL).
func killGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
