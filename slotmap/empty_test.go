package slotmap

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// A node of no cluster (taken out and reset, left running, as del-node does) lists itself alone,
// as a master with no slots: that answer is refused, as a root at Start and as a node the map
// knew, and the map keeps every slot. (Kept since masters serving no slot are listed, it was
// taken for the whole topology: a map of no slot, asked again only of that node, for good.)
func TestNodeOfNoClusterIsNoTopology(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	empty := tc.Nodes()[1]
	sys := actors.NewSystem(nil)
	defer sys.Shutdown()
	m, err := Start(sys, Options{Roots: []string{tc.Nodes()[0].Addr()}})
	require.NoError(t, err)
	defer m.Close(time.Second)
	require.NoError(t, m.Ready(ctx))
	require.Len(t, m.Snapshot().Masters(), 2, "the master serving no slot is listed")

	require.NoError(t, tc.Detach(ctx, empty))
	for round := range 6 { // the empty master, asked first or not, answers for itself alone
		before := m.Refreshes()
		m.Refresh()
		require.Eventually(t, func() bool { return m.Refreshes() > before }, 5*time.Second, time.Millisecond)
		assert.Equal(t, NumSlots, m.Snapshot().Covered(), "round %d", round)
	}
	require.Eventually(t, func() bool { return len(m.Snapshot().Masters()) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the removed node left the map")
	assert.Equal(t, NumSlots, m.Snapshot().Covered())

	alone, err := Start(sys, Options{Roots: []string{empty.Addr()}})
	require.NoError(t, err)
	defer alone.Close(time.Second)
	err = alone.Ready(ctx)
	require.ErrorIs(t, err, ErrRootNodesUnavailable, "a root of no cluster")
	assert.ErrorContains(t, err, "no slots assigned")
}

// Masters serving no slot come in one order whichever node answers (each lists CLUSTER SHARDS in
// its own): the same cluster is not published again. (They kept the answering node's order, and
// with 3 of them, 19 discoveries of 20 published a new map.)
func TestMastersServingNoSlotKeepOneOrder(t *testing.T) {
	all := [][2]int{{0, NumSlots - 1}}
	info := func(port int) NodeInfo {
		return NodeInfo{Host: "127.0.0.1", Port: port, Role: "master", Health: "online"}
	}
	a := newBuildingActor(t, Options{})
	a.onDiscovered(nil, &discovered{shards: []Shard{{Master: info(3)}, {Ranges: all, Master: info(1)}, {Master: info(2)}}})
	first := a.snap
	require.NotNil(t, first)
	assert.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, refAddrs(first.Masters()))
	a.onDiscovered(nil, &discovered{shards: []Shard{{Master: info(2)}, {Master: info(3)}, {Ranges: all, Master: info(1)}}})
	assert.Same(t, first, a.snap, "the same cluster in another order: not published")
}

// A MOVED giving a slot to a master that served none makes it a shard with its replicas. (They
// were dropped until the next refresh.)
func TestMovedToAMasterServingNoSlotKeepsItsReplicas(t *testing.T) {
	all := [][2]int{{0, NumSlots - 1}}
	a := newBuildingActor(t, Options{})
	master := NodeInfo{Host: "127.0.0.1", Port: 1, Role: "master", Health: "online"}
	empty := NodeInfo{Host: "127.0.0.1", Port: 2, Role: "master", Health: "online"}
	replica := NodeInfo{Host: "127.0.0.1", Port: 3, Role: "replica", Health: "online"}
	a.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: all, Master: master}, {Master: empty, Replicas: []NodeInfo{replica}}}})
	require.Equal(t, []string{"127.0.0.1:3"}, refAddrs(a.snap.Replicas()))
	moved := a.snap.withSlot(7, a.snap.ByAddr("127.0.0.1:2"))
	assert.Equal(t, "127.0.0.1:2", moved.Master(7).Addr)
	assert.Equal(t, []string{"127.0.0.1:3"}, refAddrs(moved.Shard(7).Replicas))
	assert.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:2"}, refAddrs(moved.Masters()), "listed once")
	assert.Equal(t, []string{"127.0.0.1:3"}, refAddrs(moved.Replicas()))
}

func refAddrs(refs []*Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Addr)
	}
	return out
}
