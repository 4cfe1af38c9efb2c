package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
)

// A command given Slower may take the server longer than the command timeout: its reply is waited
// for, and so are those of the commands written after it, due from when the server is done with it,
// not from their write; the connection stays. Without Slower, the stall detection drops the
// connection at the command timeout and both fail. (With Slower, a command written a tick after
// the slow one, which the server took a while to run too, was already overdue when the slow reply
// came, and the connection was dropped then.)
func TestSlowerCommandKeepsTheConnection(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, c := range []struct {
		name   string
		slower time.Duration
	}{{"Slower", 900 * time.Millisecond}, {"no Slower", 0}} {
		t.Run(c.name, func(t *testing.T) {
			got := make(chan struct{}, 1)
			srv := fakeredis.New(t, func(conn *fakeredis.Conn) {
				cmd, err := conn.Handshake()
				for ; err == nil; cmd, err = conn.ReadCommand() {
					reply := "+OK\r\n"
					switch cmd[0] {
					case "SLOW":
						got <- struct{}{}
						time.Sleep(2 * timeout) // the server runs it that long
						reply = "+done\r\n"
					case "GET":
						time.Sleep(timeout / 2) // and this one a while too, after SLOW
						reply = "$1\r\nv\r\n"
					}
					err = conn.Write(reply)
				}
			})
			n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: timeout})
			_, err := n.Do(context.Background(), "PING")
			require.NoError(t, err)

			slow := NewRequest("SLOW")
			slow.Slower = c.slower
			n.Send(slow)
			testwait.Recv(t, got, "SLOW never reached the server")
			time.Sleep(timeout / 3) // a few ticks: GET is noted due apart from SLOW
			get := NewRequest("GET", "k")
			n.Send(get)
			sv, serr := await(t, slow)
			gv, gerr := await(t, get)
			if c.slower == 0 {
				assert.ErrorIs(t, serr, ErrTimeout)
				assert.ErrorIs(t, gerr, ErrTimeout)
				return
			}
			require.NoError(t, serr)
			require.NoError(t, gerr)
			assert.Equal(t, "done", sv.String())
			assert.Equal(t, "v", gv.String())
			assert.Equal(t, 1, srv.Accepts(), "connections")
		})
	}
}
