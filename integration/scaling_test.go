package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestScaleOutAndIn adds a master to the cluster under load, as redis-cli --cluster add-node and
// reshard do (CLUSTER MEET, then slots migrated to it), then removes it (its slots migrated back,
// CLUSTER FORGET on every other node, CLUSTER RESET on it, left running): no error may reach a
// caller, every value must be right, the client must route to the new master while it serves
// slots, and once it has left, drop it from its map and close its connections to it.
func TestScaleOutAndIn(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{EmptyMasters: 1})
	ctx := context.Background()
	nodes := tc.Nodes()
	added := nodes[len(nodes)-1]
	require.NoError(t, tc.Detach(ctx, added)) // a server outside the cluster, to be added under load
	// A refresh every second: a node that serves nothing and leaves sends the client no MOVED.
	cl := connect(t, tc, api.ClusterOptions{ClientName: "scaling", TopologyRefreshInterval: time.Second})
	require.False(t, inMap(cl, added.Addr()))
	l := startLoad(t, cl, 64)
	waitOps(t, l, 2000)

	// Out: a new master takes 40 slots holding load keys from each master.
	require.NoError(t, tc.Join(ctx, added))
	type move struct {
		slot int
		from *testcluster.Node
	}
	var moves []move
	for _, m := range tc.Masters() {
		if m == added {
			continue
		}
		for _, s := range slotsOf(tc, m, l, 40) {
			moves = append(moves, move{s, m})
		}
	}
	start := time.Now()
	for _, mv := range moves {
		require.NoError(t, tc.MigrateSlot(ctx, mv.slot, added))
	}
	outTook := time.Since(start)
	waitOps(t, l, 2000)
	require.True(t, inMap(cl, added.Addr()), "the new master is in the client's map")
	calls := getCalls(t, added)
	waitOps(t, l, 2000)
	assert.Greater(t, getCalls(t, added), calls, "the new master serves the load's reads")
	require.NotZero(t, clientConns(t, added, "scaling"), "the client is connected to the new master")

	// In: its slots go back, and it leaves.
	start = time.Now()
	for _, mv := range moves {
		require.NoError(t, tc.MigrateSlot(ctx, mv.slot, mv.from))
	}
	require.NoError(t, tc.Detach(ctx, added))
	inTook := time.Since(start)
	waitOps(t, l, 2000)
	require.Eventually(t, func() bool { return !inMap(cl, added.Addr()) }, 10*time.Second, 10*time.Millisecond,
		"the removed master left the client's map")
	require.Eventually(t, func() bool { return clientConns(t, added, "scaling") == 0 }, 10*time.Second, 10*time.Millisecond,
		"the client closed its connections to the removed master")
	waitOps(t, l, 2000)

	l.halt()
	r := l.report()
	l.verify(t, &r)
	t.Logf("moved %d slots out in %s and back in %s; %s", len(moves), outTook.Round(time.Millisecond),
		inTook.Round(time.Millisecond), r)
	assert.Zero(t, r.total(), "no error reaches a caller while the cluster scales")
	assert.Zero(t, r.wrong)
	assert.Zero(t, r.lost)
	assert.Zero(t, r.unsettled)
}

// inMap reports whether the client's slot map holds a node at addr.
func inMap(cl *api.Cluster, addr string) bool {
	for _, n := range cl.Nodes() {
		if n.Addr() == addr {
			return true
		}
	}
	return false
}

// clientConns counts n's client connections named name.
func clientConns(t *testing.T, n *testcluster.Node, name string) int {
	t.Helper()
	v, err := n.Do(context.Background(), "CLIENT", "LIST")
	require.NoError(t, err)
	return strings.Count(v.(string), " name="+name+" ")
}
