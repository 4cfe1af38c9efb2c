package testcluster_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// A node restarted comes back empty, as the doc says, also one that was a replica and holds the RDB
// file of its last full sync: restarted as a master before any failover (a node timeout longer
// than the restart), it came back with that sync's data, a key deleted since written again (a
// helper's chaos test saw counters go back to old values so).
func TestRestartedNodeComesBackEmpty(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{NodeTimeout: 3 * time.Second})
	ctx := ctxT(t, 60*time.Second)
	m := c.MasterFor(0)
	require.NotNil(t, m)
	key := "{b}k"
	require.Equal(t, m, c.MasterFor(keySlot(t, ctx, m, key)))
	r := c.ReplicasOf(m)[0]
	require.NoError(t, c.Kill(r))
	// More written meanwhile than the master's backlog keeps: the replica's next sync is a full one,
	// which it writes to dump.rdb as it loads it.
	_, err := m.Do(ctx, "CONFIG", "SET", "repl-backlog-size", "16384")
	require.NoError(t, err)
	_, err = m.Do(ctx, "SET", key, "old")
	require.NoError(t, err)
	_, err = m.Do(ctx, "SET", "{b}filler", strings.Repeat("x", 1<<17))
	require.NoError(t, err)
	require.NoError(t, c.Restart(ctx, r))
	for {
		info, err := r.Info(ctx, "replication")
		require.NoError(t, err)
		if info["master_link_status"] == "up" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never synced: %v", r.Addr(), info)
		case <-time.After(20 * time.Millisecond): // polls the server's state: no event to wait on
		}
	}
	require.FileExists(t, filepath.Join(r.Dir(), "dump.rdb"), "the synced data on disk: what is tested")

	require.NoError(t, c.Failover(ctx, r))
	require.True(t, r.IsMaster())
	_, err = r.Do(ctx, "DEL", key)
	require.NoError(t, err)
	require.NoError(t, c.Kill(r))
	require.NoError(t, c.Restart(ctx, r))
	require.True(t, r.IsMaster(), "restarted before any failover")
	v, err := r.Do(ctx, "GET", key)
	require.NoError(t, err)
	assert.Nil(t, v, "the deleted key is not back")
}
