//go:build !unix

package node

import "net"

// peeker cannot peek at a socket on this platform: newPeeker returns none (see its callers).
type peeker struct{}

func newPeeker(net.Conn) *peeker { return nil }

func (*peeker) peek() (pending bool, err error) { return false, nil }
