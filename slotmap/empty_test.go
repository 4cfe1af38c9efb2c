package slotmap

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
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/node"
)

// A node of no cluster (taken out and reset, left running, as del-node does) lists itself alone,
// as a master with no slots: that answer is refused, as a root at Start and as a node the map
// knew, and the map keeps every slot. (Kept since masters serving no slot are listed, it was
// taken for the whole topology: a map of no slot, asked again only of that node, for good.)
func TestNodeOfNoClusterIsNoTopology(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master, empty := tc.Nodes()[0], tc.Nodes()[1]
	sys := actors.NewSystem(nil)
	defer sys.Shutdown()
	m, err := Start(sys, Options{Roots: []string{master.Addr()}})
	require.NoError(t, err)
	defer m.Close(time.Second)
	require.NoError(t, m.Ready(ctx))
	require.Len(t, m.Snapshot().Masters(), 2, "the master serving no slot is listed")

	require.NoError(t, tc.Detach(ctx, empty))
	d := discover(ctx, Options{}.withDefaults(), []string{empty.Addr(), master.Addr()}, NumSlots)
	require.NoError(t, d.err)
	assert.Equal(t, master.Addr(), d.from, "the node of no cluster was passed over")
	assert.ErrorContains(t, queryErr(ctx, empty.Addr()), "no slots assigned")
	m.Refresh()
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

// queryErr is queryShards's error for the node at addr.
func queryErr(ctx context.Context, addr string) error {
	o := Options{}.withDefaults().Node
	o.Addr = addr
	_, _, err := queryShards(ctx, o)
	return err
}

// A discovery whose first answer covers fewer slots than the map asks one more candidate, and
// takes the answer covering the most of the two: a node that has just met the cluster lists for a
// moment only the masters it has heard of. (The first valid answer was taken: a rejoining node
// asked first published a map of half the slots, which stayed for seconds.) A cluster that does
// miss slots costs one more query, and a candidate that answers nothing at most secondOpinion.
// A partial answer no second node confirmed is published only as a first map; a map covering
// fewer slots than before looks again a moment later.
func TestDiscoveryPrefersTheAnswerCoveringMore(t *testing.T) {
	half, _ := shardsServer(t, [2]int{0, 8191})
	half2, _ := shardsServer(t, [2]int{0, 8191})
	whole, wholeAsked := shardsServer(t, [2]int{0, 8191}, [2]int{8192, NumSlots - 1})
	hung := fakeredis.New(t, func(c *fakeredis.Conn) {
		for { // read everything, answer nothing
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound on a hang
	defer cancel()
	opts := Options{QueryTimeout: time.Minute, Node: node.Options{ConnectTimeout: time.Minute}}.withDefaults()
	d := discover(ctx, opts, []string{half.Addr(), whole.Addr()}, NumSlots)
	require.NoError(t, d.err)
	assert.Equal(t, whole.Addr(), d.from)
	d = discover(ctx, opts, []string{half.Addr(), whole.Addr()}, 8192)
	require.NoError(t, d.err)
	assert.Equal(t, half.Addr(), d.from, "as many slots as the map has: the first answer")

	asked := wholeAsked.Load()
	confirmed := discover(ctx, opts, []string{half.Addr(), half2.Addr(), whole.Addr()}, NumSlots)
	require.NoError(t, confirmed.err)
	assert.Equal(t, half.Addr(), confirmed.from, "a second node agrees: the first answer")
	assert.False(t, confirmed.unconfirmed)
	assert.Equal(t, asked, wholeAsked.Load(), "no third node is asked")
	start := time.Now()
	d = discover(ctx, opts, []string{half.Addr(), hung.Addr(), whole.Addr()}, NumSlots)
	require.Less(t, time.Since(start), 15*time.Second, "a silent second candidate costs secondOpinion, not QueryTimeout")
	require.NoError(t, d.err)
	assert.Equal(t, half.Addr(), d.from)
	assert.True(t, d.unconfirmed)
	alone := discover(ctx, opts, []string{half.Addr()}, NumSlots)
	require.NoError(t, alone.err)
	assert.Equal(t, half.Addr(), alone.from, "no other answer: the partial one")
	assert.False(t, alone.unconfirmed, "no other node to ask (a cluster of one): it stands")

	a := newBuildingActor(t, Options{})
	a.onDiscovered(nil, alone)
	require.NotNil(t, a.snap, "a first map: published, partial as it is")
	assert.True(t, a.scheduled, "a map covering fewer slots than before looks again")
	assert.Greater(t, time.Until(a.scheduledAt), 500*time.Millisecond, "a second later")
	a.scheduleRefresh() // a MOVED's refresh is not held back by it
	assert.Less(t, time.Until(a.scheduledAt), 500*time.Millisecond, "brought forward")
	a.refreshTimer.Stop()
	a.scheduled = false

	b := newBuildingActor(t, Options{})
	b.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: [][2]int{{0, NumSlots - 1}}, Master: NodeInfo{Host: "127.0.0.1",
		Port: 1, Role: "master", Health: "online"}}}})
	whole1 := b.snap
	b.onDiscovered(nil, d)
	assert.Same(t, whole1, b.snap, "a partial answer no second node confirmed does not replace a map")
	assert.True(t, b.scheduled, "it looks again")
	b.refreshTimer.Stop()
	b.scheduled = false
	b.onDiscovered(nil, confirmed)
	assert.NotSame(t, whole1, b.snap, "one confirmed does")
	assert.Equal(t, 8192, b.snap.Covered())
	b.refreshTimer.Stop()
}

// shardsServer is a fake server answering CLUSTER SHARDS (RESP2) with one master per range, at
// 127.0.0.1, ports 1, 2..., and a count of the CLUSTER SHARDS it answered.
func shardsServer(t *testing.T, ranges ...[2]int) (*fakeredis.Server, *atomic.Int64) {
	shards := make([]fakeredis.Shard, len(ranges))
	for i, r := range ranges {
		shards[i] = fakeredis.Shard{Addr: fmt.Sprintf("127.0.0.1:%d", i+1), Ranges: [][2]int{r}}
	}
	reply := fakeredis.ShardsReply(shards...)
	return serveShards(t, func() string { return reply })
}

// serveShards is a fake server answering CLUSTER SHARDS with what reply returns at the time, and a
// count of the CLUSTER SHARDS it answered.
func serveShards(t *testing.T, reply func() string) (*fakeredis.Server, *atomic.Int64) {
	var asked atomic.Int64
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			if strings.EqualFold(strings.Join(cmd, " "), "CLUSTER SHARDS") {
				asked.Add(1)
				err = c.Write(reply())
			} else {
				err = c.Write("-ERR unknown command\r\n")
			}
			if err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	})
	return srv, &asked
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
	before := withAMasterServingNoSlot(t)
	require.Equal(t, []string{"127.0.0.1:3"}, refAddrs(before.Replicas()))
	moved := before.withSlot(7, before.ByAddr("127.0.0.1:2"))
	assert.Equal(t, "127.0.0.1:2", moved.Master(7).Addr)
	assert.Equal(t, []string{"127.0.0.1:3"}, refAddrs(moved.Shard(7).Replicas))
	assert.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:2"}, refAddrs(moved.Masters()), "listed once")
	assert.Equal(t, []string{"127.0.0.1:3"}, refAddrs(moved.Replicas()))
}

// withAMasterServingNoSlot is a map of a master serving every slot at port 1, and a master serving
// none at port 2 with a replica at port 3.
func withAMasterServingNoSlot(t *testing.T) *Snapshot {
	a := newBuildingActor(t, Options{})
	master := NodeInfo{Host: "127.0.0.1", Port: 1, Role: "master", Health: "online"}
	empty := NodeInfo{Host: "127.0.0.1", Port: 2, Role: "master", Health: "online"}
	replica := NodeInfo{Host: "127.0.0.1", Port: 3, Role: "replica", Health: "online"}
	a.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: [][2]int{{0, NumSlots - 1}}, Master: master},
		{Master: empty, Replicas: []NodeInfo{replica}}}})
	return a.snap
}

func refAddrs(refs []*Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Addr)
	}
	return out
}

// A MOVED naming the replica of a master serving no slot (promoted, unseen) lists it once, as a
// master. (It stayed among the replicas too: dropReplica walked only the shards serving slots.)
func TestMovedToTheReplicaOfAMasterServingNoSlot(t *testing.T) {
	before := withAMasterServingNoSlot(t)
	moved := before.withSlot(7, before.ByAddr("127.0.0.1:3"))
	assert.Equal(t, "127.0.0.1:3", moved.Master(7).Addr)
	assert.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:3", "127.0.0.1:2"}, refAddrs(moved.Masters()), "serving slots first")
	assert.Empty(t, moved.Replicas(), "no longer a replica")
	assert.Equal(t, []string{"127.0.0.1:3"}, refAddrs(before.Replicas()), "the snapshot it was made from is unchanged")
}
