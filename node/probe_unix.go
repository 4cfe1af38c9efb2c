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
// before the FIN is such bytes). A socket it cannot peek at counts as quiet.
func idleBroken(nc net.Conn) bool {
	closed, pending := peekIdle(nc)
	return closed || pending
}

// peekIdle looks at a connection without waiting and without taking anything (a read with a
// deadline already past would not even ask the socket): closed reports the end of the stream or
// a socket error, pending bytes waiting to be read. The caller must know that no goroutine is
// reading the connection: the peek would wait for that read to end.
func peekIdle(nc net.Conn) (closed, pending bool) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true, false
	}
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil && n > 0:
			pending = true
		case rerr == nil: // the end of the stream
			closed = true
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR): // quiet
		default:
			closed = true // reset, or worse
		}
		return true // never wait for readiness
	})
	return closed || err != nil, pending
}
