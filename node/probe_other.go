//go:build !unix

package node

import "net"

// idleBroken cannot peek at a socket on this platform: a connection closed by the server is found
// when it is used.
func idleBroken(net.Conn) bool { return false }
