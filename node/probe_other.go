//go:build !unix

package node

import "net"

// closedByPeer cannot peek at a socket on this platform: a connection closed by the server is
// found when it is used.
func closedByPeer(net.Conn) bool { return false }
