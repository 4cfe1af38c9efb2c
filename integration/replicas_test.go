package integration

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestReplicaDiesWithUseReplicas: reads are spread over masters and replicas; a replica is
// SIGKILLed; reads of its shard move to the master and keep succeeding.
func TestReplicaDiesWithUseReplicas(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{UseReplicas: true})
	ctx := context.Background()
	master := tc.Masters()[0]
	victim := tc.ReplicasOf(master)[0]
	var keys []string
	for i := 0; len(keys) < 200; i++ {
		k := "replica-read:" + strconv.Itoa(i)
		if tc.MasterFor(api.GetSlot(k)) == master {
			keys = append(keys, k)
			require.NoError(t, cl.Set(ctx, k, k))
		}
	}
	// Reads through the replica work before the fault (replicas may lag a moment: retry Nil).
	require.Eventually(t, func() bool { return readAll(ctx, cl, keys) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Positive(t, getCalls(t, victim), "the replica served reads")

	require.NoError(t, tc.Kill(victim))
	masterGetsBefore := getCalls(t, master)
	start := time.Now()
	failures := 0
	for time.Since(start) < 3*time.Second {
		failures += readAll(ctx, cl, keys)
	}
	t.Logf("reads failing while and after the replica died: %d", failures)
	// Once the map drops the dead replica every read succeeds, served by the master.
	require.Eventually(t, func() bool { return readAll(ctx, cl, keys) == 0 }, 10*time.Second, 50*time.Millisecond)
	assert.Zero(t, readAll(ctx, cl, keys))
	assert.Greater(t, getCalls(t, master), masterGetsBefore+len(keys), "the master took the replica's reads")
}

// TestReplicaThatLeftTheClusterIsDropped: a replica forgotten by the others and reset answers
// CLUSTERDOWN to every read. That makes the client refresh its map, which no longer has it, and
// the reads go to the rest of the shard. Without the refresh (none periodic here) its share of
// the reads was retried on it until the command timeout, for as long as the client ran.
func TestReplicaThatLeftTheClusterIsDropped(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{UseReplicas: true, TopologyRefreshInterval: -1})
	ctx := context.Background()
	master := tc.Masters()[0]
	gone := tc.ReplicasOf(master)[0]
	var keys []string
	for i := 0; len(keys) < 50; i++ {
		if k := "left-replica:" + strconv.Itoa(i); tc.MasterFor(api.GetSlot(k)) == master {
			keys = append(keys, k)
			require.NoError(t, cl.Set(ctx, k, k))
		}
	}
	require.Eventually(t, func() bool { return readAll(ctx, cl, keys) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Positive(t, getCalls(t, gone), "the replica served reads")

	for _, n := range tc.Nodes() {
		if n != gone {
			_, err := n.Do(ctx, "CLUSTER", "FORGET", gone.ID())
			require.NoError(t, err)
		}
	}
	_, err := gone.Do(ctx, "CLUSTER", "RESET", "HARD")
	require.NoError(t, err)
	readAll(ctx, cl, keys) // about half meet CLUSTERDOWN on the reset replica
	require.Eventually(t, func() bool {
		for _, n := range cl.Nodes() {
			if n.Addr() == gone.Addr() {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "the replica left the client's map")
	assert.Zero(t, readAll(ctx, cl, keys))
}

// TestUnreachableReplicaIsPassedOver: with UseReplicas, a replica the client cannot reach, which
// the cluster still calls healthy, takes no reads: they go to the rest of the shard at once. (Each
// read sent to it waited in its offline queue until a new map sent it elsewhere: 219 ms on
// average, in an audit, for as long as the cluster kept the replica.)
func TestUnreachableReplicaIsPassedOver(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	master := tc.Masters()[0]
	lost := tc.ReplicasOf(master)[0]
	cl := connect(t, tc, api.ClusterOptions{UseReplicas: true,
		NodeAddressMap: map[string]string{lost.Addr(): "127.0.0.1:1"}}) // nothing listens there
	ctx := context.Background()
	var key string
	for i := 0; key == ""; i++ {
		if k := "lost-replica:" + strconv.Itoa(i); tc.MasterFor(api.GetSlot(k)) == master {
			key = k
		}
	}
	require.NoError(t, cl.Set(ctx, key, "v"))
	slow := 0
	for range 50 {
		// 150 ms: far above a read's time here, far below the wait in the offline queue
		rctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		v, err := cl.Do(rctx, api.Cmd("GET", key))
		cancel()
		if err != nil || v.String() != "v" {
			slow++
		}
	}
	assert.LessOrEqual(t, slow, 5, "reads held up by the unreachable replica")
}

// readAll GETs every key (its value is its name) and returns how many reads failed.
func readAll(ctx context.Context, cl *api.Cluster, keys []string) int {
	failed := 0
	futures := make([]*api.Future, len(keys))
	for i, k := range keys {
		futures[i] = cl.Send(api.Cmd("GET", k))
	}
	for i, f := range futures {
		if v, err := f.AwaitContext(ctx); err != nil || v.String() != keys[i] {
			failed++
		}
	}
	return failed
}

func getCalls(t *testing.T, n *testcluster.Node) int {
	t.Helper()
	stats, err := n.Info(context.Background(), "commandstats")
	require.NoError(t, err)
	rest, ok := strings.CutPrefix(stats["cmdstat_get"], "calls=")
	if !ok {
		return 0
	}
	calls, _, _ := strings.Cut(rest, ",")
	count, err := strconv.Atoi(calls)
	require.NoError(t, err)
	return count
}

// TestScriptWritesAfterAManualFailoverWithUseReplicas: with UseReplicas every connection is in
// READONLY mode, so a master demoted by a manual failover runs a script sent to it before the map
// knows, and the script's write meets READONLY (no MOVED, which would fix the map). The client
// refreshes its map and runs the script on the new master: no caller sees READONLY.
func TestScriptWritesAfterAManualFailoverWithUseReplicas(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{UseReplicas: true})
	ctx := context.Background()
	master := tc.Masters()[0]
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		if k := "script-write:" + strconv.Itoa(i); tc.MasterFor(api.GetSlot(k)) == master {
			keys = append(keys, k)
		}
	}
	require.Equal(t, master.Addr(), cl.NodeForKey(keys[0]).Addr())
	require.NoError(t, tc.Failover(ctx, tc.ReplicasOf(master)[0]))
	const script = "return redis.call('SET', KEYS[1], ARGV[1])"
	for _, k := range keys {
		_, err := cl.Do(ctx, api.Cmd("EVAL", script, 1, k, k))
		require.NoError(t, err, "EVAL writing %s after the failover", k)
	}
	for _, k := range keys {
		v, err := cl.Get(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, k, v)
	}
	assert.NotEqual(t, master.Addr(), cl.NodeForKey(keys[0]).Addr(), "the map names the new master")
}
