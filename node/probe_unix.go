//go:build unix

package node

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// closedByPeer reports whether the server has closed nc, or reset it, by peeking at its socket
// without waiting and without taking anything from it (a read with a deadline already past would
// not even ask the socket). Bytes waiting to be read (a TLS session ticket, say) are no sign of a
// close; a socket it cannot peek at counts as open.
func closedByPeer(nc net.Conn) bool {
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
	closed := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil:
			closed = n == 0 // end of stream
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR):
		default:
			closed = true // reset, or worse
		}
		return true // never wait for readiness
	})
	return closed || err != nil
}
