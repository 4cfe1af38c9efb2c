//go:build !unix

package node

import "net"

// idleBroken cannot peek at a socket on this platform: a connection closed by the server is found
// when it is used.
func idleBroken(net.Conn) bool { return false }

// peeker cannot peek either: a connection counts as quiet.
type peeker struct{}

func newPeeker(net.Conn) *peeker { return nil }

func (*peeker) peek() (pending bool, err error) { return false, nil }
