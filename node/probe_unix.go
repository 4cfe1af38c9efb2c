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
func peekIdle(nc net.Conn) (closed, pending bool) { return newPeeker(nc).peek() }

// peeker peeks at one connection (peekIdle) without allocating: a connection peeked at before
// most writes (lentread.go) keeps one. One goroutine at a time uses it.
type peeker struct {
	raw             syscall.RawConn
	recv            func(fd uintptr) bool // p.recvPeek, bound once
	buf             [1]byte
	closed, pending bool
}

// newPeeker returns a peeker of nc, or nil for a socket it cannot peek at (which counts as quiet).
func newPeeker(nc net.Conn) *peeker {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peeker{raw: raw}
	p.recv = p.recvPeek
	return p
}

func (p *peeker) peek() (closed, pending bool) {
	if p == nil {
		return false, false
	}
	p.closed, p.pending = false, false
	if err := p.raw.Read(p.recv); err != nil {
		return true, false
	}
	return p.closed, p.pending
}

func (p *peeker) recvPeek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil && n > 0:
		p.pending = true
	case err == nil: // the end of the stream
		p.closed = true
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR): // quiet
	default:
		p.closed = true // reset, or worse
	}
	return true // never wait for readiness
}
