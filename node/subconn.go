package node

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// SubConn is a connection of its own to the node for a subscriber (SUBSCRIBE, PSUBSCRIBE,
// SSUBSCRIBE). Once subscribed, the server writes to it whenever a message is published, so it
// can share neither the pipelined connection nor the dedicated pool; it is not counted in
// MaxDedicated. It is dialled like every connection of the node (TLS, AUTH, HELLO), closes when
// the node does, and is found dead within 20 s on a dead network (TCP keepalive).
//
// One goroutine reads (Read) while others write (Write) and close (Close): Write and Close are
// safe for concurrent use, Read is for one goroutine.
type SubConn struct {
	addr    string
	cmd     string        // the subscribe command it is for, to name in errors
	timeout time.Duration // bounds each write: a server that stops reading must not hold Write
	nc      net.Conn
	rd      *resp.Reader
	stop    func() bool // ends the watch that closes the connection with the node
	closed  atomic.Bool

	wmu  sync.Mutex // serialises writes; Close does not take it, and interrupts one in progress
	wbuf []byte
}

// Subscriber dials a connection of its own for a subscriber of the kind cmd names (SUBSCRIBE,
// SSUBSCRIBE...: errors name it). It fails with a *ConnError naming the node (wrapping ErrClosed
// once the node is closed).
func (n *Node) Subscriber(ctx context.Context, cmd string) (*SubConn, error) {
	nc, rd, err := n.pool.dial(ctx)
	if err != nil {
		return nil, &ConnError{Addr: n.addr, Command: cmd, Err: err}
	}
	s := &SubConn{addr: n.addr, cmd: cmd, timeout: n.pool.opts.CommandTimeout, nc: nc, rd: rd}
	s.stop = context.AfterFunc(n.pool.stop, func() { _ = s.shut() }) // not Close: s.stop may not be set yet
	return s, nil
}

// Addr returns the server's "host:port".
func (s *SubConn) Addr() string { return s.addr }

// ErrorReply returns the server's error reply v, read on s, as an error: a MOVED or ASK to ":port"
// (a cluster that prefers unknown-endpoint) names this server's host, as on the node's other
// connections.
func (s *SubConn) ErrorReply(v resp.Value) *resp.Error {
	return withRedirectHost(resp.ParseError(string(v.Bytes())), s.addr)
}

// Write sends one command (SSUBSCRIBE ch..., PING...), bounded by the node's CommandTimeout.
func (s *SubConn) Write(args ...any) error {
	name := CommandName(args)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return &ConnError{Addr: s.addr, Command: name, Err: ErrClosed}
	}
	var err error
	if s.wbuf, err = resp.AppendCommand(s.wbuf[:0], args...); err != nil {
		return commandError(s.addr, name, err)
	}
	_ = s.nc.SetWriteDeadline(time.Now().Add(s.timeout))
	if n, err := s.nc.Write(s.wbuf); err != nil {
		if s.closed.Load() {
			err = ErrClosed
		}
		return &ConnError{Addr: s.addr, Command: name, Written: n > 0, Err: err}
	}
	return nil
}

// Read returns the next frame the server sent: a push (RESP3) or an array (RESP2) for a message
// or a (un)subscribe confirmation, an error value for a refused command. The value is valid until
// the next Read. It fails with a *ConnError once the connection is lost or closed (wrapping
// ErrClosed then).
func (s *SubConn) Read() (resp.Value, error) {
	v, err := s.rd.Read()
	if err != nil {
		if s.closed.Load() {
			err = ErrClosed
		}
		return resp.Value{}, &ConnError{Addr: s.addr, Command: s.cmd, Written: true, Err: err}
	}
	return v, nil
}

// Closed reports whether Close was called (or the node closed it).
func (s *SubConn) Closed() bool { return s.closed.Load() }

// Close closes the connection; a Read or Write in progress fails. Calling it again does nothing.
func (s *SubConn) Close() error {
	s.stop()
	return s.shut()
}

func (s *SubConn) shut() error {
	if s.closed.Swap(true) {
		return nil
	}
	return closeConn(s.nc)
}
