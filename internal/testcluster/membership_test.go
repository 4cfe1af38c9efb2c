package testcluster_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// knownNodes is the number of lines of n's CLUSTER NODES, itself included.
func knownNodes(t *testing.T, n *testcluster.Node) int {
	t.Helper()
	v, err := n.Do(ctxT(t, 5*time.Second), "CLUSTER", "NODES")
	require.NoError(t, err)
	return len(strings.Split(strings.TrimSpace(v.(string)), "\n"))
}

// TestDetachAndJoin: a master with no slots taken out of the cluster runs on its own, unknown to
// the others, and comes back as an empty master that slots can be migrated to; a master serving
// slots cannot be taken out.
func TestDetachAndJoin(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	ctx := ctxT(t, 60*time.Second)
	nodes := c.Nodes()
	a, empty := nodes[0], nodes[2]
	oldID := empty.ID()

	require.ErrorContains(t, c.Detach(ctx, a), "serves slots")
	require.NoError(t, c.Detach(ctx, empty))
	require.NotEqual(t, oldID, empty.ID(), "a new node id")
	require.Equal(t, 1, knownNodes(t, empty), "it knows only itself")
	require.Equal(t, 2, knownNodes(t, a))
	require.Len(t, c.Masters(), 2)
	require.NoError(t, c.WaitForReady(ctx), "the cluster is ready without it")
	require.Error(t, c.Detach(ctx, empty), "detached already")

	require.NoError(t, c.Join(ctx, empty))
	require.Equal(t, 3, knownNodes(t, a))
	require.Len(t, c.Masters(), 3)
	require.NoError(t, c.MigrateSlot(ctx, 0, empty))
	require.Equal(t, empty, c.MasterFor(0))
	require.Error(t, c.Join(ctx, empty), "a member already")

	require.NoError(t, c.MigrateSlot(ctx, 0, a))
	require.NoError(t, c.Detach(ctx, empty))
	require.Equal(t, 2, knownNodes(t, a))
}
