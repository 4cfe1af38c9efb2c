package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestAskToAMasterWithoutSlotsAfterARefresh: a slot migrating to a master that serves no slots yet
// (a node just added) sends ASKs to it. The map lists that master from the start (Masters), so the
// ASKs go to its node actor, which refreshes keep. (Until 2026-11-29 the map left such a master
// out and learned it from the ASK, and a refresh stopped that actor; the next ASK got a new one.)
func TestAskToAMasterWithoutSlotsAfterARefresh(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{EmptyMasters: 1})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 3 * time.Second})
	ctx := context.Background()
	empty := tc.Nodes()[len(tc.Nodes())-1]
	listed := cl.snapshot().ByAddr(empty.Addr())
	require.NotNil(t, listed, "the map lists the master with no slots before any ASK")
	const slot = 500
	keys := slotKeys("ask", slot, 2)
	beginMove(t, tc, cl, slot, keys, empty, len(keys))

	for round := range 3 {
		for _, k := range keys {
			v, err := cl.Get(ctx, k)
			require.NoError(t, err, "round %d: GET %s, asked to the empty master", round, k)
			require.Equal(t, "v", v)
		}
		ref := cl.snapshot().ByAddr(empty.Addr())
		require.NotNil(t, ref)
		require.Same(t, listed.Node, ref.Node, "round %d: the node actor the map listed", round)
		require.True(t, ref.Node.Connected())
		before := cl.run.Load().smap.Refreshes()
		cl.run.Load().smap.Refresh()
		require.Eventually(t, func() bool { return cl.run.Load().smap.Refreshes() > before }, 10*time.Second,
			5*time.Millisecond, "a refresh started")
	}
	require.NoError(t, tc.FinishMigration(ctx, slot, empty))
}
