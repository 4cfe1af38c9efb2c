package node

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
)

// wrapped is a connection of a Dialer's own type (one counting bytes, a SOCKS client's...): it
// hides its socket, which the client cannot peek at then.
type wrapped struct{ net.Conn }

func wrappingDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return wrapped{nc}, nil
}

// A connection the client cannot peek at is not parked when one caller is alone: its reader keeps
// reading, finds the server's close, and the next command goes on a new connection. (Parked, it
// counted as quiet: the next command was written into the closed connection and failed, "may have
// run".)
func TestUnpeekableConnectionIsNotParked(t *testing.T) {
	srv := fakeredis.New(t, pongs)
	lost := make(chan struct{}, 4)
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, Dialer: wrappingDialer, OnEvent: func(e Event) {
		if e.Type == EventDisconnect {
			lost <- struct{}{}
		}
	}})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)
	srv.CloseConns()
	testwait.Recv(t, lost, "the server's close was never found")
	_, err = n.Do(ctx, "PING")
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Accepts())
}
