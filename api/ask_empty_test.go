package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestAskToAMasterWithoutSlotsAfterARefresh: a slot migrating to a master that serves no slots yet
// (a node just added) sends ASKs to a node outside the map, which the map learns; a refresh stops
// that node's actor, and the next ASK to it gets a live one.
func TestAskToAMasterWithoutSlotsAfterARefresh(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{EmptyMasters: 1})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 3 * time.Second})
	ctx := context.Background()
	empty := tc.Nodes()[len(tc.Nodes())-1]
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
		require.NotNil(t, ref, "the map learned the empty master")
		require.True(t, ref.Node.Connected())
		cl.run.Load().smap.Refresh()
		require.Eventually(t, func() bool { return !ref.Node.Connected() }, 10*time.Second, 5*time.Millisecond,
			"the refresh stops the node the map learned")
	}
	require.NoError(t, tc.FinishMigration(ctx, slot, empty))
}
