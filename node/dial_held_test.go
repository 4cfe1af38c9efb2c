package node

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
)

// holdingServer reads every command and answers none, as a stopped or frozen server, or a proxy
// holding the handshake; with refuseFirst, it answers its first connection's first command with
// WRONGPASS and closes it instead.
func holdingServer(t *testing.T, refuseFirst bool) *fakeredis.Server {
	var first atomic.Bool
	return fakeredis.New(t, func(c *fakeredis.Conn) {
		if refuseFirst && first.CompareAndSwap(false, true) {
			if _, err := c.ReadCommand(); err == nil {
				_ = c.Write("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
			}
			return // closed
		}
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
}

// A command that times out while the node's connect is still under way (a server, or something
// on the way, holding the handshake) says so: it said only "command timed out", a review found,
// until the connect's own ConnectTimeout had passed.
func TestTimeoutWhileConnectingSaysSo(t *testing.T) {
	addr := holdingServer(t, false).Addr()
	n := startNode(t, Options{Addr: addr, CommandTimeout: 300 * time.Millisecond, ConnectTimeout: time.Minute})
	_, err := n.Do(t.Context(), "GET", "k")
	require.ErrorIs(t, err, ErrTimeout)
	t.Log(err)
	assert.ErrorContains(t, err, "still connecting, for ")
	assert.ErrorContains(t, err, "(ConnectTimeout 1m0s)")
	assert.ErrorContains(t, err, addr, "the node is named")
	var ce *ConnError
	require.ErrorAs(t, err, &ce)
	assert.False(t, ce.Written)
}

// The same after an earlier connect failed: the error says both, the last failure and the
// connect under way. (It said only the last failure, a review found.)
func TestTimeoutWhileConnectingAfterAFailedConnectSaysBoth(t *testing.T) {
	srv := holdingServer(t, true)
	n := startNode(t, Options{Addr: srv.Addr(), Password: "pw", CommandTimeout: 300 * time.Millisecond,
		ConnectTimeout: time.Minute, Reconnect: func(int) time.Duration { return 10 * time.Millisecond }})
	require.Eventually(t, func() bool { return srv.Accepts() >= 2 }, 2*time.Second, time.Millisecond,
		"the second connect is under way")
	_, err := n.Do(t.Context(), "GET", "k")
	require.ErrorIs(t, err, ErrTimeout)
	t.Log(err)
	assert.ErrorContains(t, err, "the last connect failed: HELLO: WRONGPASS")
	assert.ErrorContains(t, err, "still connecting, for ")
}

// A RESP2 connection with nothing to authenticate, name or make READONLY is not taken as up until
// the server has answered: a command for a server that accepts the connection and answers nothing
// (stopped, frozen) fails unwritten. (The handshake read nothing in RESP2: the connection was up at
// once, the command written into a server that could run it when it woke, "may have run".)
func TestRESP2ConnectionWaitsForTheServer(t *testing.T) {
	n := startNode(t, Options{Addr: holdingServer(t, false).Addr(), RESP: 2, CommandTimeout: 300 * time.Millisecond, ConnectTimeout: time.Minute})
	_, err := n.Do(t.Context(), "GET", "k")
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err), "%v", err)
	assert.ErrorContains(t, err, "still connecting")
}

// A server loading its data or running a script is alive: it refuses PING (LOADING, BUSY) where it
// takes HELLO and AUTH, and a RESP2 handshake's PING takes any reply as an answer, so the
// connection comes up and the command meets the refusal itself (which the dispatcher retries). (It
// failed the dial, a review found: "the last connect failed: PING: LOADING".)
func TestRESP2HandshakeToALoadingOrBusyServerConnects(t *testing.T) {
	for _, refusal := range []string{"LOADING Redis is loading the dataset in memory",
		"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."} {
		srv := fakeredis.New(t, func(c *fakeredis.Conn) {
			for {
				if _, err := c.ReadCommand(); err != nil || c.Write("-"+refusal+"\r\n") != nil {
					return
				}
			}
		})
		n := startNode(t, Options{Addr: srv.Addr(), RESP: 2, ConnectTimeout: time.Second, CommandTimeout: 500 * time.Millisecond})
		_, err := n.Do(t.Context(), "GET", "k")
		require.Error(t, err)
		assert.ErrorContains(t, err, refusal[:strings.IndexByte(refusal, ' ')], "the command's own reply")
		assert.NotContains(t, err.Error(), "connect failed")
		assert.True(t, n.Connected(), "connected to a live server that refuses PING")
	}
}
