package testcluster_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

func TestKillFailoverRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{})
	ctx := ctxT(t, 30*time.Second)

	old := c.MasterFor(0)
	require.NotNil(t, old)
	formerReplicas := c.ReplicasOf(old)
	require.Len(t, formerReplicas, 1)
	oldPID := old.PID()

	require.NoError(t, c.Kill(old))
	require.False(t, old.Running())
	_, err := old.Do(ctx, "PING")
	require.ErrorContains(t, err, "not running")
	require.NoError(t, c.Kill(old), "killing a dead node is a no-op")

	start := time.Now()
	promoted, err := c.WaitForFailover(ctx, old)
	require.NoError(t, err)
	t.Logf("failover took %v after the kill", time.Since(start).Round(time.Millisecond))
	require.Equal(t, formerReplicas[0], promoted)
	require.True(t, promoted.IsMaster())
	require.Equal(t, promoted, c.MasterFor(0))
	require.Equal(t, promoted, c.MasterFor(testcluster.NumSlots/3-1))
	require.Len(t, c.Masters(), 3)
	require.Len(t, c.Replicas(), 2)
	require.Equal(t, promoted, c.MasterFor(keySlot(t, ctx, promoted, "{b}k")))
	v, err := promoted.Do(ctx, "SET", "{b}k", "v")
	require.NoError(t, err)
	require.Equal(t, "OK", v)

	start = time.Now()
	require.NoError(t, c.Restart(ctx, old))
	t.Logf("restart and rejoin took %v", time.Since(start).Round(time.Millisecond))
	require.True(t, old.Running())
	require.NotEqual(t, oldPID, old.PID())
	require.Equal(t, testcluster.RoleReplica, old.Role())
	require.Equal(t, []*testcluster.Node{old}, c.ReplicasOf(promoted))
	require.Len(t, c.Replicas(), 3)
	require.Error(t, c.Restart(ctx, old), "restarting a running node fails")

	// A manual failover gives the slots back to the restarted node.
	start = time.Now()
	require.NoError(t, c.Failover(ctx, old))
	t.Logf("manual failover took %v", time.Since(start).Round(time.Millisecond))
	require.True(t, old.IsMaster())
	require.Equal(t, old, c.MasterFor(0))
	require.Equal(t, []*testcluster.Node{promoted}, c.ReplicasOf(old))
	v, err = old.Do(ctx, "GET", "{b}k")
	require.NoError(t, err)
	require.Equal(t, "v", v, "the data written after the failover came back with the sync")
}

// TestEmptyMasterRestart: a master with no slots (Options.EmptyMasters) is one every node knows,
// in no slot map; killed and restarted, it rejoins as such.
func TestEmptyMasterRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	ctx := ctxT(t, 30*time.Second)
	nodes := c.Nodes()
	require.Len(t, nodes, 3)
	empty := nodes[2]
	require.True(t, empty.IsMaster())
	require.Len(t, c.Masters(), 3)
	require.NotEqual(t, empty, c.MasterFor(0))
	require.NotEqual(t, empty, c.MasterFor(testcluster.NumSlots-1))

	require.NoError(t, c.Kill(empty))
	require.NoError(t, c.Restart(ctx, empty))
	v, err := empty.Do(ctx, "CLUSTER", "COUNTKEYSINSLOT", "0")
	require.NoError(t, err)
	require.Equal(t, int64(0), v)
	require.Len(t, c.Masters(), 3)
}
