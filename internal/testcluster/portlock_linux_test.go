//go:build linux

package testcluster

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// privateLockFile makes this process reserve ports on a lock file of the test's own, so that what
// the test holds as "another binary" blocks no real test binary running beside it. It restores the
// shared file, and the ports reserved before, when the test ends. The test must not run in parallel.
func privateLockFile(t *testing.T) {
	t.Helper()
	usePool(t) // no start in the background reserves ports meanwhile
	portsMu.Lock()
	saved, savedOpen, savedPorts, savedFile := machine, machineOpen, reservedPorts, portLockFile
	machine, machineOpen, reservedPorts = nil, false, map[int]bool{}
	portLockFile = filepath.Join(t.TempDir(), "ports.lock")
	portsMu.Unlock()
	t.Cleanup(func() {
		portsMu.Lock()
		defer portsMu.Unlock()
		if machine != nil {
			_ = machine.f.Close()
		}
		machine, machineOpen, reservedPorts, portLockFile = saved, savedOpen, savedPorts, savedFile
	})
}

// otherBinary opens the lock file as another test binary would: its own open file description,
// whose locks conflict with this process's.
func otherBinary(t *testing.T) *machinePorts {
	t.Helper()
	m := openMachinePorts(portLockFile)
	require.NotNil(t, m, "open %s", portLockFile)
	t.Cleanup(func() { _ = m.f.Close() })
	return m
}

// A port reserved here is held for every test binary of the machine until it is released.
func TestReservedPortsAreHeldMachineWide(t *testing.T) {
	privateLockFile(t)
	ports, err := reservePorts(4)
	require.NoError(t, err)
	other := otherBinary(t)
	for _, p := range ports {
		require.False(t, other.lock(p), "port %d, reserved here, was free for another test binary", p)
	}
	releasePorts(ports...)
	for _, p := range ports {
		require.True(t, other.lock(p), "port %d, released here, is still held", p)
		other.unlock(p)
	}
}

// A port another test binary holds is never handed out here: with every port held elsewhere (all
// of them, whether this machine's ports come from the range or from the kernel), there is none to
// reserve.
func TestPortsHeldElsewhereAreNotHandedOut(t *testing.T) {
	privateLockFile(t)
	other := otherBinary(t)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: 1, Len: 65535}
	if err := unix.FcntlFlock(other.f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatalf("hold every port as another binary (OFD locks, Linux 3.15 or newer): %v", err)
	}
	ports, err := reservePorts(1)
	if err == nil {
		releasePorts(ports...)
	}
	require.Error(t, err, "handed out port %v, held by another test binary", ports)
	lk.Type = unix.F_UNLCK
	require.NoError(t, unix.FcntlFlock(other.f.Fd(), unix.F_OFD_SETLK, &lk))
	ports, err = reservePorts(1)
	require.NoError(t, err, "once the other binary lets go")
	releasePorts(ports...)
}
