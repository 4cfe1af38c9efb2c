//go:build unix

package node

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// idleBroken reports whether a connection that should be quiet is not: the server has closed or
// reset it, or sent something no command asked for (over TLS, the close_notify alert that comes
// before the FIN is such bytes). It peeks at the socket without waiting and without taking
// anything (a read with a deadline already past would not even ask the socket). A socket it cannot
// peek at counts as quiet.
func idleBroken(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	broken := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil: // the end of the stream, or bytes waiting
			broken = true
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR): // quiet
		default:
			broken = true // reset, or worse
		}
		return true // never wait for readiness
	})
	return broken || err != nil
}
