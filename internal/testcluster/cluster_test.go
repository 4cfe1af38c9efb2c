package testcluster_test

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// ctxT returns a context for one test step.
func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// slotsCovered sums the ranges of a CLUSTER SLOTS reply.
func slotsCovered(t *testing.T, v any) int {
	t.Helper()
	entries, ok := v.([]any)
	require.True(t, ok, "CLUSTER SLOTS reply %T", v)
	total := 0
	for _, e := range entries {
		r := e.([]any)
		total += int(r[1].(int64)-r[0].(int64)) + 1
	}
	return total
}

func TestCluster3x1(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := testcluster.New(t, testcluster.Options{})
	t.Logf("3x1 cluster ready in %v", time.Since(start).Round(time.Millisecond))
	ctx := ctxT(t, 20*time.Second)

	require.Len(t, c.Nodes(), 6)
	require.Len(t, c.Addrs(), 6)
	masters, replicas := c.Masters(), c.Replicas()
	require.Len(t, masters, 3)
	require.Len(t, replicas, 3)

	ids := map[string]bool{}
	for _, n := range c.Nodes() {
		require.True(t, strings.HasPrefix(n.Addr(), "127.0.0.1:"), n.Addr())
		require.NotZero(t, n.PID())
		require.Len(t, n.ID(), 40)
		ids[n.ID()] = true

		info, err := n.Do(ctx, "CLUSTER", "INFO")
		require.NoError(t, err)
		require.Contains(t, info, "cluster_state:ok")
		require.Contains(t, info, "cluster_slots_assigned:16384")
		require.Contains(t, info, "cluster_known_nodes:6")

		slots, err := n.Do(ctx, "CLUSTER", "SLOTS")
		require.NoError(t, err)
		require.Equal(t, testcluster.NumSlots, slotsCovered(t, slots))

		repl, err := n.Do(ctx, "INFO", "replication")
		require.NoError(t, err)
		if n.IsMaster() {
			require.Contains(t, repl, "role:master")
			require.Contains(t, repl, "connected_slaves:1")
		} else {
			require.Contains(t, repl, "role:slave")
			require.Contains(t, repl, "master_link_status:up")
		}
	}
	require.Len(t, ids, 6, "node ids are distinct")

	for _, m := range masters {
		require.True(t, m.IsMaster())
		reps := c.ReplicasOf(m)
		require.Len(t, reps, 1)
		require.Equal(t, testcluster.RoleReplica, reps[0].Role())
	}
	require.Equal(t, masters[0], c.MasterFor(0))
	require.Equal(t, masters[2], c.MasterFor(testcluster.NumSlots-1))
	require.Equal(t, masters[0], c.NodeByAddr(masters[0].Addr()))
	require.Equal(t, masters[1], c.NodeByID(masters[1].ID()))

	// A write to the key's owner reaches its replica; another master redirects.
	owner := c.MasterFor(keySlot(t, ctx, masters[0], "{a}x"))
	require.NotNil(t, owner)
	v, err := owner.Do(ctx, "SET", "{a}x", "1")
	require.NoError(t, err)
	require.Equal(t, "OK", v)
	v, err = owner.Do(ctx, "WAIT", "1", "5000")
	require.NoError(t, err)
	require.Equal(t, int64(1), v)
	for _, m := range masters {
		if m == owner {
			continue
		}
		_, err := m.Do(ctx, "GET", "{a}x")
		var se *testcluster.ServerError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "MOVED", se.Prefix())
		require.Contains(t, err.Error(), m.Addr())
		require.Contains(t, err.Error(), "GET")
	}

	// The Cluster is safe for concurrent use.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.Len(t, c.Masters(), 3)
			assert.NotNil(t, c.MasterFor(i*4000))
			assert.NoError(t, c.WaitForReady(ctx))
			_, err := c.Nodes()[i].Do(ctx, "PING")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()

	// Stop ends every process, also after a Kill, and removes the directories.
	pids := []int{}
	for _, n := range c.Nodes() {
		pids = append(pids, n.PID())
	}
	require.NoError(t, c.Kill(replicas[0]))
	start = time.Now()
	require.NoError(t, c.Stop())
	t.Logf("Stop took %v", time.Since(start).Round(time.Millisecond))
	require.NoError(t, c.Stop(), "Stop is idempotent")
	for _, pid := range pids {
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "pid %d is gone", pid)
	}
	for _, n := range c.Nodes() {
		require.False(t, n.Running())
		require.NoDirExists(t, n.Dir())
	}
	require.Error(t, c.WaitForReady(ctx))
	require.Error(t, c.Restart(ctx, replicas[0]))
}

// keySlot asks the server for the slot of key.
func keySlot(t *testing.T, ctx context.Context, n *testcluster.Node, key string) int {
	t.Helper()
	v, err := n.Do(ctx, "CLUSTER", "KEYSLOT", key)
	require.NoError(t, err)
	return int(v.(int64))
}
