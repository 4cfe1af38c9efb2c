//go:build unix

package node

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
)

// peeker looks at one connection without waiting and without taking anything (a read with a
// deadline already past would not even ask the socket), and without allocating: a parked
// connection is peeked at before most writes (lentread.go). One goroutine at a time uses it, one
// that knows no goroutine is reading the connection.
type peeker struct {
	raw     syscall.RawConn
	recv    func(fd uintptr) bool // p.recvPeek, bound once
	buf     [1]byte
	err     error
	pending bool
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

// peek reports whether bytes are waiting to be read, or why the connection is finished: io.EOF for
// the end of the stream, or the socket's error.
func (p *peeker) peek() (pending bool, err error) {
	if p == nil {
		return false, nil
	}
	p.err, p.pending = nil, false
	if err := p.raw.Read(p.recv); err != nil {
		return false, err
	}
	return p.pending, p.err
}

func (p *peeker) recvPeek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil && n > 0:
		p.pending = true
	case err == nil:
		p.err = io.EOF
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR): // quiet
	default:
		p.err = err // reset, or worse
	}
	return true // never wait for readiness
}
