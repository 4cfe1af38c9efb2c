//go:build !unix

package node

import "net"

// idleBroken cannot peek at a socket on this platform: a connection closed by the server is found
// when it is used.
func idleBroken(net.Conn) bool { return false }

// peekIdle cannot peek either: a connection counts as quiet.
func peekIdle(net.Conn) (closed, pending bool) { return false, false }

// peeker is peekIdle for one connection; here it never peeks.
type peeker struct{}

func newPeeker(net.Conn) *peeker { return nil }

func (*peeker) peek() (closed, pending bool) { return false, false }
