//go:build !linux

package testcluster

import "syscall"

// sysProcAttr returns nil: outside Linux there is no parent-death signal, and a server outlives a test
// binary that crashes before Stop.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// processGone cannot tell here: a directory left by a dead process is kept.
func processGone(int) bool { return false }
