package api

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A master frozen (SIGSTOP: its connections open, answering nothing) whose replica is promoted
// before the command timeout: once a reply to it is overdue, the map is looked at again as for a
// node disconnected, and a command sent after the promotion goes to the new master, not into the
// frozen one, which would run it once thawed, as a master still, and lose it when it learns of the
// failover. (The map was not refreshed until the command timeout: a review measured every one of
// 100 increments sent after the promotion acknowledged at the thaw and lost.)
func TestFrozenMastersFailoverIsFollowedBeforeTheTimeout(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 20 * time.Second, TopologyRefreshInterval: -1})
	ctx := context.Background()
	const slot = 5000
	key := keyInSlot("frozen", slot)
	victim := tc.MasterFor(slot)
	promoted := tc.ReplicasOf(victim)[0] // to be
	_, err := cl.Incr(ctx, key)
	require.NoError(t, err)

	require.NoError(t, syscall.Kill(victim.PID(), syscall.SIGSTOP))
	defer func() { _ = syscall.Kill(victim.PID(), syscall.SIGCONT) }()
	cl.Send(Cmd("INCR", key)) // into the frozen server, which may run it at the thaw: overdue from now on
	// The harness's WaitForFailover asks every running node, the frozen one too: ask the replica.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if fields, err := promoted.Info(ctx, "replication"); err == nil && fields["role"] == "master" {
			break
		}
		require.True(t, time.Now().Before(deadline), "%s never promoted", promoted.Addr())
		time.Sleep(50 * time.Millisecond) // nothing to wait on: the cluster decides
	}

	// Well before the command timeout, and with the victim still frozen, the map shows the
	// promoted master, and an INCR goes there.
	for deadline := time.Now().Add(5 * time.Second); cl.NodeForKey(key).Addr() != promoted.Addr(); {
		require.True(t, time.Now().Before(deadline), "the map still has %s for the slot", cl.NodeForKey(key).Addr())
		time.Sleep(20 * time.Millisecond) // the map's refreshes: nothing to wait on from here
	}
	bound, cancelBound := context.WithTimeout(ctx, 5*time.Second)
	defer cancelBound()
	n, err := cl.Incr(bound, key)
	require.NoError(t, err)
	require.Positive(t, n)
	v, err := promoted.Do(ctx, "GET", key)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(n, 10), v)
}
