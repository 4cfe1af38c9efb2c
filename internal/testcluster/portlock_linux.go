//go:build linux

package testcluster

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// machinePorts marks the ports this process has reserved for every test binary on the machine: it
// holds a lock on one byte of a shared file, the byte at the port's offset. The locks are open file
// description locks (F_OFD_SETLK), so they belong to this process's one open file, conflict with any
// other open of the file, and are released by the kernel when the process ends, however it ends.
type machinePorts struct{ f *os.File }

// portLockFile is the shared file, in the temporary directory every test binary of the machine uses.
var portLockFile = filepath.Join(os.TempDir(), "actoredis-testcluster-ports.lock")

// openMachinePorts opens the shared file, or returns nil where it cannot (another user's file, a
// read-only temporary directory): ports are then reserved within this process only.
func openMachinePorts(path string) *machinePorts {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil
	}
	return &machinePorts{f: f}
}

// lock reports whether this process now holds port: false when another holds it.
func (m *machinePorts) lock(port int) bool {
	if m == nil {
		return true
	}
	err := m.set(unix.F_WRLCK, port)
	// Only a conflict says another binary holds the port. Any other failure (a kernel without OFD
	// locks, before Linux 3.15; a file system without locks) cannot say: reserve within this
	// process only, as if there were no file.
	return err == nil || !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES)
}

// unlock gives port up; a port it does not hold is ignored.
func (m *machinePorts) unlock(port int) {
	if m != nil {
		_ = m.set(unix.F_UNLCK, port)
	}
}

func (m *machinePorts) set(typ int16, port int) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: int64(port), Len: 1}
	return unix.FcntlFlock(m.f.Fd(), unix.F_OFD_SETLK, &lk)
}
