package slotmap

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Learn's lease keeps its node open through a topology without it, until its own release: a
// release the actor does not know (a lease taken before a restart, whose nodes the restart
// closed) does nothing, even for the same address; a release while a topology holds the node
// keeps it.
func TestLeasesAreTheirOwn(t *testing.T) {
	a := newBuildingActor(t, Options{})
	a.release(7) // unknown: nothing to do (it once panicked on a restarted actor's nil map)
	a.leases = map[uint64]string{}
	const addr = "127.0.0.1:1"
	a.leases[2] = a.known(nil, addr).Addr
	a.snap = a.build(nil)
	require.NotNil(t, a.nodes[addr], "leased: left open by a topology without it")
	a.release(1) // a lease of the same address from before a restart
	require.NotNil(t, a.nodes[addr], "another lease's release")
	a.release(2)
	assert.Nil(t, a.nodes[addr], "released, and no topology holds it")

	a.leases[3] = a.known(nil, addr).Addr
	held := []Shard{{Ranges: [][2]int{{0, NumSlots - 1}}, Master: NodeInfo{Host: "127.0.0.1", Port: 1, Role: "master", Health: "online"}}}
	a.snap = a.build(held)
	a.release(3)
	assert.NotNil(t, a.nodes[addr], "the topology holds it")
	assert.Empty(t, a.leases)
}

// A node an ASK named stays open through a topology without it for keepResolved after that ASK
// (a migration's target the topology does not list yet), unless it is down, and is closed by the
// first topology after that. (The next topology closed it, failing what was queued at it while it
// connected: each command met the ASK again, and the node was started and closed again, until its
// deadline.)
func TestAskedNodeOutlivesATopologyWithoutIt(t *testing.T) {
	a := newBuildingActor(t, Options{})
	const addr = "127.0.0.1:1"
	n := a.resolve(nil, addr).Node
	a.snap = a.build(nil)
	require.Same(t, n, a.nodes[addr], "asked for a moment ago: left open by a topology without it")
	a.resolved[addr] = time.Now().Add(-keepResolved) // the last ASK naming it, that long ago
	a.snap = a.build(nil)
	assert.Nil(t, a.nodes[addr], "no ASK has named it for keepResolved")
	assert.Empty(t, a.resolved)

	a.resolve(nil, addr)
	a.down[addr] = time.Now() // it could not be reached
	a.snap = a.build(nil)
	assert.Nil(t, a.nodes[addr], "down: not held")
	assert.Empty(t, a.resolved)
}

// Learn refuses an empty address: starting a node actor for it would panic the map, which would
// restart and close every node.
func TestLearnRefusesAnEmptyAddress(t *testing.T) {
	_, _, err := (&Map{}).Learn(context.Background(), "")
	assert.ErrorContains(t, err, "empty address")
}
