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

// A node an ASK named stays open through a topology without it for AskedHold after that ASK
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
	a.resolved[addr] = time.Now().Add(-a.opts.AskedHold) // the last ASK naming it, that long ago
	a.snap = a.build(nil)
	assert.Nil(t, a.nodes[addr], "no ASK has named it for AskedHold")
	assert.Empty(t, a.resolved)

	a.resolve(nil, addr)
	a.down[addr] = time.Now() // it could not be reached
	a.snap = a.build(nil)
	assert.Nil(t, a.nodes[addr], "down: not held")
	assert.Empty(t, a.resolved)
}

// An ASK a dispatcher sends straight to a node its snapshot lists outside the topology renews the
// node's hold (Asked), as one the map resolves does: a migration's target named by ASKs for longer
// than AskedHold stays open. An Asked for a node of the topology, or for one a newer topology has
// dropped, holds nothing. (Only the ASK the map resolved renewed it: the first topology more than
// AskedHold after it closed the node, with ASKs still naming it.)
func TestAskedKeepsTheNodeAnASKNames(t *testing.T) {
	a := newBuildingActor(t, Options{})
	const addr, listed = "127.0.0.1:1", "127.0.0.1:2"
	topology := []Shard{{Ranges: [][2]int{{0, NumSlots - 1}}, Master: NodeInfo{Host: "127.0.0.1", Port: 2, Role: "master", Health: "online"}}}
	a.snap = a.build(topology)
	ref := a.resolve(nil, addr)
	a.snap = a.snap.withNode(ref) // what known publishes
	require.True(t, a.snap.Outside(addr))
	require.False(t, a.snap.Outside(listed))

	a.resolved[addr] = time.Now().Add(-a.opts.AskedHold) // resolved that long ago
	a.asked(addr)                                        // and named by an ASK since
	a.snap = a.build(topology)
	assert.Same(t, ref.Node, a.nodes[addr], "an ASK named it a moment ago")
	assert.False(t, a.snap.Outside(addr), "a new topology lists it no more")

	a.resolved[addr] = time.Now().Add(-a.opts.AskedHold)
	a.asked(addr) // sent with the snapshot before that topology
	a.snap = a.build(topology)
	assert.Nil(t, a.nodes[addr], "dropped by a topology before the Asked came: not reopened")

	a.asked(listed)
	assert.NotContains(t, a.resolved, listed, "the topology holds it: no ASK's hold")
}

// Learn refuses an empty address: starting a node actor for it would panic the map, which would
// restart and close every node.
func TestLearnRefusesAnEmptyAddress(t *testing.T) {
	_, _, err := (&Map{}).Learn(context.Background(), "")
	assert.ErrorContains(t, err, "empty address")
}
