package slotmap

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/fakeredis"
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
	_, err := queryShards(ctx, o)
	return err
}

// A discovery whose first answer covers fewer slots than the map asks the other candidates, and
// takes the answer covering the most: a node that has just met the cluster lists for a moment
// only the masters it has heard of. (The first valid answer was taken: a rejoining node asked
// first published a map of half the slots, which stayed for seconds.) With no better answer,
// the partial one is taken, and the map looks again a moment later.
func TestDiscoveryPrefersTheAnswerCoveringMore(t *testing.T) {
	half := shardsServer(t, [2]int{0, 8191})
	whole := shardsServer(t, [2]int{0, 8191}, [2]int{8192, NumSlots - 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := Options{}.withDefaults()
	d := discover(ctx, opts, []string{half.Addr(), whole.Addr()}, NumSlots)
	require.NoError(t, d.err)
	assert.Equal(t, whole.Addr(), d.from)
	d = discover(ctx, opts, []string{half.Addr(), whole.Addr()}, 8192)
	require.NoError(t, d.err)
	assert.Equal(t, half.Addr(), d.from, "as many slots as the map has: the first answer")
	d = discover(ctx, opts, []string{half.Addr()}, NumSlots)
	require.NoError(t, d.err)
	assert.Equal(t, half.Addr(), d.from, "no better answer: the partial one")

	a := newBuildingActor(t, Options{})
	a.onDiscovered(nil, d)
	assert.True(t, a.scheduled, "a map covering fewer slots than before looks again")
}

// shardsServer is a fake server answering CLUSTER SHARDS (RESP2) with one master per range, at
// 127.0.0.1, ports 1, 2...
func shardsServer(t *testing.T, ranges ...[2]int) *fakeredis.Server {
	reply := fmt.Sprintf("*%d\r\n", len(ranges))
	for i, r := range ranges {
		node := fmt.Sprintf("*12\r\n$2\r\nid\r\n$2\r\nm%d\r\n$4\r\nport\r\n:%d\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"+
			"$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n", i, i+1)
		reply += fmt.Sprintf("*4\r\n$5\r\nslots\r\n*2\r\n:%d\r\n:%d\r\n$5\r\nnodes\r\n*1\r\n%s", r[0], r[1], node)
	}
	return fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			if strings.EqualFold(strings.Join(cmd, " "), "CLUSTER SHARDS") {
				err = c.Write(reply)
			} else {
				err = c.Write("-ERR unknown command\r\n")
			}
			if err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	})
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
