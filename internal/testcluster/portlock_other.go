//go:build !linux

package testcluster

// machinePorts does nothing outside Linux: ports are reserved within this process only.
type machinePorts struct{}

var portLockFile = ""

func openMachinePorts(string) *machinePorts { return nil }

func (m *machinePorts) lock(int) bool { return true }

func (m *machinePorts) unlock(int) {}
