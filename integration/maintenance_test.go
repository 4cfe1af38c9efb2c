package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestRollingMaintenance does what an operator upgrading a cluster does, under load: for each
// shard in turn, its replica is restarted, then promoted with a graceful CLUSTER FAILOVER, and
// the old master, a replica now, is restarted. Graceful steps cost callers nothing: no error,
// every acknowledged write read back. A library loaded right after each failover reaches every
// master (the cluster lists the demoted master as a master serving no slot for a moment, and the
// map made then did so for up to 30 s: Library.Load failed with its READONLY), and the map lists
// the demoted master as a master no longer a moment later.
func TestRollingMaintenance(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{})
	l := startLoad(t, cl, 64)
	waitOps(t, l, 5000)
	ctx := context.Background()
	lib := api.NewLibrary("#!lua name=maintenance\nredis.register_function('one', function() return 1 end)")
	restart := func(n *testcluster.Node) {
		t.Helper()
		require.NoError(t, tc.Kill(n))
		require.NoError(t, tc.Restart(ctx, n))
	}
	for _, master := range tc.Masters() {
		replicas := tc.ReplicasOf(master)
		require.Len(t, replicas, 1)
		restart(replicas[0])
		waitOps(t, l, 2000)
		require.NoError(t, tc.Failover(ctx, replicas[0]))
		require.NoError(t, lib.Load(ctx, cl), "right after the failover to %s", replicas[0].Addr())
		v, err := lib.Call(ctx, cl, "one", nil)
		require.NoError(t, err)
		assert.Equal(t, "1", v.String())
		demoted := func() bool {
			return !slices.ContainsFunc(cl.Masters(), func(n *api.Node) bool { return n.Addr() == master.Addr() })
		}
		deadline := time.Now().Add(5 * time.Second)
		for !demoted() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling the map, which no event announces
		}
		assert.True(t, demoted(), "the map still lists %s, demoted, among the masters", master.Addr())
		waitOps(t, l, 2000)
		restart(master)
		waitOps(t, l, 2000)
	}
	l.halt()
	r := l.report()
	l.verify(t, &r)
	t.Logf("rolling maintenance: %s", r)
	assert.Zero(t, r.total(), "graceful steps cost callers no error")
	assert.Zero(t, r.wrong, "every read saw the last write")
	assert.Zero(t, r.lost+r.unsettled, "every acknowledged write is there")
	assert.Less(t, r.maxWait, time.Second, "no command held up for long")
	for _, m := range cl.Masters() {
		assert.Equal(t, testcluster.RoleMaster, tc.NodeByAddr(m.Addr()).Role(), "%s listed as a master", m.Addr())
	}
}
