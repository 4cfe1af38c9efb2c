//go:build linux

package testcluster

import (
	"errors"
	"syscall"
)

// sysProcAttr makes the kernel SIGKILL a server when the thread that started it dies, so that servers
// do not outlive a test binary that crashed or was killed. (Pdeathsig follows the OS thread, not the
// process; the Go runtime only ends threads of goroutines that exit while locked to them.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processGone reports whether no process has the id pid.
func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
