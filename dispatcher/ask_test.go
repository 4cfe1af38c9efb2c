package dispatcher

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/slotmap"
)

// serveSlowly is a fake server's handler: it waits slow before the handshake, then answers
// CLUSTER SHARDS with shards, PING with PONG, and every other command as answer says.
func serveSlowly(slow time.Duration, shards func() string, answer func(cmd []string) string) func(*fakeredis.Conn) {
	return func(c *fakeredis.Conn) {
		time.Sleep(slow) // a slow server: the connection comes up late
		cmd, err := c.Handshake()
		for err == nil {
			var reply string
			switch name := strings.ToUpper(cmd[0]); {
			case name == "CLUSTER" && len(cmd) > 1 && strings.EqualFold(cmd[1], "SHARDS"):
				reply = shards()
			case name == "PING":
				reply = "+PONG\r\n"
			default:
				reply = answer(cmd)
			}
			if err = c.Write(reply); err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	}
}

// A command whose slot the topology gives to A, which answers ASK naming B, a node no topology
// lists (a migration's target), is answered by B although B connects more slowly than the map
// refreshes: the map keeps B's node open through the topologies without it, and the command queued
// there while B connected is written once it has. (Each topology closed B, failing what was queued
// at it: the command met the ASK again and again, 7 times, and timed out at 3 s.)
func TestAskTargetMissingFromTheTopologyIsReached(t *testing.T) {
	var shards atomic.Value // A's CLUSTER SHARDS reply, once A's address is known
	listed := func() string { s, _ := shards.Load().(string); return s }
	var asks, bGets, bDials atomic.Int64
	b := fakeredis.New(t, func(c *fakeredis.Conn) {
		bDials.Add(1)
		serveSlowly(150*time.Millisecond, listed, func(cmd []string) string {
			if strings.EqualFold(cmd[0], "GET") {
				bGets.Add(1)
				return "$1\r\nv\r\n"
			}
			return "+OK\r\n" // ASKING
		})(c)
	})
	slot := slotmap.Slot("k")
	a := fakeredis.New(t, serveSlowly(0, listed, func(cmd []string) string {
		if strings.EqualFold(cmd[0], "GET") {
			asks.Add(1)
			return fmt.Sprintf("-ASK %d %s\r\n", slot, b.Addr())
		}
		return "+OK\r\n"
	}))
	shards.Store(fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: [][2]int{{0, slotmap.NumSlots - 1}}}))

	sys := actors.NewSystem(nil)
	m, err := slotmap.Start(sys, slotmap.Options{Roots: []string{a.Addr()}, RefreshInterval: 50 * time.Millisecond,
		Node: node.Options{CommandTimeout: 3 * time.Second}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testwait.Bound)
	defer cancel()
	require.NoError(t, m.Ready(ctx))
	h, err := Start(sys, Options{Map: m})
	require.NoError(t, err)
	defer func() {
		h.Close(time.Second)
		m.Close(time.Second)
		sys.Shutdown()
	}()

	r := &Request{}
	r.Init(h, []any{"GET", "k"})
	r.Deadline = time.Now().Add(3 * time.Second)
	r.Until = r.Deadline
	refreshed := m.Refreshes()
	h.Send(r)
	testwait.Recv(t, r.Done(), "the GET never completed")
	v, err := r.Future.Await()
	require.NoError(t, err, "after %d ASKs and %d connections to B", asks.Load(), bDials.Load())
	assert.Equal(t, "v", v.String())
	assert.EqualValues(t, 1, bGets.Load(), "GETs B answered")
	assert.EqualValues(t, 1, bDials.Load(), "connections to B")
	assert.Greater(t, m.Refreshes(), refreshed, "no topology came while B connected: the test shows nothing")
}
