package node

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A command that times out while the node's connect is still under way (a server, or something
// on the way, holding the handshake) says so: it said only "command timed out", a review found,
// until the connect's own ConnectTimeout had passed.
func TestTimeoutWhileConnectingSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept() // accepted, never answered
			if err != nil {
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-held:
				_ = c.Close()
			default:
				return
			}
		}
	})
	n := startNode(t, Options{Addr: ln.Addr().String(), CommandTimeout: 300 * time.Millisecond,
		ConnectTimeout: time.Minute})
	_, err = n.Do(t.Context(), "GET", "k")
	require.ErrorIs(t, err, ErrTimeout)
	t.Log(err)
	assert.ErrorContains(t, err, "still connecting, for ")
	assert.ErrorContains(t, err, "(ConnectTimeout 1m0s)")
	assert.ErrorContains(t, err, ln.Addr().String(), "the node is named")
	var ce *ConnError
	require.ErrorAs(t, err, &ce)
	assert.False(t, ce.Written)
}
