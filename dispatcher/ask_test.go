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

// askPair is a fake cluster of two servers: A, which the topology lists for every slot and which
// answers every GET with an ASK naming B, and B, which the topology does not list (a migration's
// target) and which answers a GET with "v", its connections coming up slow late. It counts A's
// ASKs, B's GETs and B's connections.
type askPair struct {
	a, b                *fakeredis.Server
	asks, bGets, bDials atomic.Int64
}

func newAskPair(t *testing.T, slow time.Duration) *askPair {
	p := &askPair{}
	var shards atomic.Value // A's CLUSTER SHARDS reply, once A's address is known
	listed := func() string { s, _ := shards.Load().(string); return s }
	p.b = fakeredis.New(t, func(c *fakeredis.Conn) {
		p.bDials.Add(1)
		serveSlowly(slow, listed, func(cmd []string) string {
			if strings.EqualFold(cmd[0], "GET") {
				p.bGets.Add(1)
				return "$1\r\nv\r\n"
			}
			return "+OK\r\n" // ASKING
		})(c)
	})
	slot := slotmap.Slot("k")
	p.a = fakeredis.New(t, serveSlowly(0, listed, func(cmd []string) string {
		if strings.EqualFold(cmd[0], "GET") {
			p.asks.Add(1)
			return fmt.Sprintf("-ASK %d %s\r\n", slot, p.b.Addr())
		}
		return "+OK\r\n"
	}))
	shards.Store(fakeredis.ShardsReply(fakeredis.Shard{Addr: p.a.Addr(), Ranges: [][2]int{{0, slotmap.NumSlots - 1}}}))
	return p
}

// start starts a slot map (opts, its Roots set to A) and a dispatcher on it, closed at the end of
// the test.
func (p *askPair) start(t *testing.T, opts slotmap.Options) (*slotmap.Map, *Handle) {
	opts.Roots = []string{p.a.Addr()}
	return startOn(t, opts)
}

// startOn starts a slot map with opts and a dispatcher on it, closed at the end of the test.
func startOn(t *testing.T, opts slotmap.Options) (*slotmap.Map, *Handle) {
	sys := actors.NewSystem(nil)
	m, err := slotmap.Start(sys, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testwait.Bound)
	defer cancel()
	require.NoError(t, m.Ready(ctx))
	h, err := Start(sys, Options{Map: m})
	require.NoError(t, err)
	t.Cleanup(func() {
		h.Close(time.Second)
		m.Close(time.Second)
		sys.Shutdown()
	})
	return m, h
}

// get sends GET k through h and returns its reply's error, after checking the value when none.
func (p *askPair) get(t *testing.T, h *Handle) error {
	r := &Request{}
	r.Init(h, []any{"GET", "k"})
	r.Deadline = time.Now().Add(3 * time.Second)
	r.Until = r.Deadline
	h.Send(r)
	testwait.Recv(t, r.Done(), "the GET never completed")
	v, err := r.Future.Await()
	if err == nil {
		assert.Equal(t, "v", v.String())
	}
	return err
}

// A command whose slot the topology gives to A, which answers ASK naming B, a node no topology
// lists (a migration's target), is answered by B although B connects more slowly than the map
// refreshes: the map keeps B's node open through the topologies without it, and the command queued
// there while B connected is written once it has. (Each topology closed B, failing what was queued
// at it: the command met the ASK again and again, 7 times, and timed out at 3 s.)
func TestAskTargetMissingFromTheTopologyIsReached(t *testing.T) {
	p := newAskPair(t, 150*time.Millisecond)
	m, h := p.start(t, slotmap.Options{RefreshInterval: 50 * time.Millisecond,
		Node: node.Options{CommandTimeout: 3 * time.Second}})
	refreshed := m.Refreshes()
	require.NoError(t, p.get(t, h), "after %d ASKs and %d connections to B", p.asks.Load(), p.bDials.Load())
	assert.EqualValues(t, 1, p.bGets.Load(), "GETs B answered")
	assert.EqualValues(t, 1, p.bDials.Load(), "connections to B")
	assert.Greater(t, m.Refreshes(), refreshed, "no topology came while B connected: the test shows nothing")
}

// ASKs naming B, one after another for longer than the map's AskedHold, keep B's node open
// through topologies that come more than AskedHold apart and do not list it: each ASK the
// dispatcher sends straight to B renews the hold. (Only the first, which the map resolved, held
// it: the first topology after AskedHold closed B's node, and the next ASK opened another.)
func TestAsksKeepTheirTargetOpenPastTheHold(t *testing.T) {
	p := newAskPair(t, 0)
	m, h := p.start(t, slotmap.Options{RefreshInterval: 300 * time.Millisecond, AskedHold: 100 * time.Millisecond})
	require.NoError(t, p.get(t, h))
	from := m.Refreshes()
	until := time.Now().Add(testwait.Bound)
	for m.Refreshes() < from+3 { // two topologies at least, each well past the hold
		require.True(t, time.Now().Before(until), "no topology came in %v", testwait.Bound)
		require.NoError(t, p.get(t, h))
	}
	assert.EqualValues(t, 1, p.bDials.Load(), "connections to B, after %d GETs", p.bGets.Load())
	assert.Equal(t, p.asks.Load(), p.bGets.Load(), "every ASK followed to B")
}
