package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
)

// Every pipelined connection made ready ends once, counted in Disconnects: lost, dropped, or
// closed with the actor, here one restarted after a panic (in OnEvent) and then closed. (The
// restart's end of the first connection was not counted: Connects 2, Disconnects 0.)
func TestStatsCountEveryConnectionEnded(t *testing.T) {
	srv := fakeredis.New(t, pongs)
	ready := make(chan struct{}, 4)
	panicked := false
	n := startNode(t, Options{Addr: srv.Addr(), OnEvent: func(e Event) {
		if e.Type != EventReady {
			return
		}
		ready <- struct{}{}
		if !panicked { // on the actor's goroutine, one at a time
			panicked = true
			panic("a handler's bug")
		}
	}})
	testwait.Recv(t, ready, "no connection")
	testwait.Recv(t, ready, "no connection after the restart")
	s := n.Stats()
	assert.Equal(t, uint64(2), s.Connects)
	assert.Equal(t, uint64(1), s.Disconnects)
	assert.True(t, s.Connected)
	require.NoError(t, n.Close(time.Second))
	s = n.Stats()
	assert.Equal(t, s.Connects, s.Disconnects)
	assert.False(t, s.Connected)
}

// The PING that checks an idle dedicated connection the client cannot peek at ends with the
// caller's ctx, and with the node's Close, not at ConnectTimeout. (It waited for ConnectTimeout: a
// cancelled Dedicated returned after 2 s, and Close waited as long.)
func TestIdleCheckEndsWithCtxAndClose(t *testing.T) {
	hung := make(chan struct{})
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		_, err := c.Handshake()
		for ; err == nil; _, err = c.ReadCommand() {
			select {
			case <-hung: // answers nothing more
			default:
				err = c.Write("+PONG\r\n")
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), Dialer: wrappingDialer, ConnectTimeout: time.Minute})
	d, err := n.Dedicated(context.Background())
	require.NoError(t, err)
	d.Release() // idle, to be checked with a PING at the next take
	close(hung)

	ctx, cancel := context.WithCancel(context.Background())
	taken := make(chan error, 1)
	go func() {
		_, err := n.Dedicated(ctx)
		taken <- err
	}()
	time.Sleep(50 * time.Millisecond) // the check under way, most likely (it is bounded either way)
	cancel()
	require.ErrorIs(t, testwait.Recv(t, taken, "the check outlived its ctx"), context.Canceled)

	d, err = n.Dedicated(context.Background()) // a new connection, answering nothing either
	require.NoError(t, err)
	d.Release()
	go func() {
		_, err := n.Dedicated(context.Background())
		taken <- err
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- n.Close(time.Second) }()
	require.NoError(t, testwait.Recv(t, closed, "Close waited for the check"))
	err = testwait.Recv(t, taken, "the check outlived Close")
	assert.True(t, errors.Is(err, ErrClosed), "%v", err)
}
