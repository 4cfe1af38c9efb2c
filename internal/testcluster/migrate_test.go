package testcluster_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

func TestMigrateSlot(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{})
	ctx := ctxT(t, 30*time.Second)

	masters := c.Masters()
	slot := keySlot(t, ctx, masters[0], "{user1}")
	src := c.MasterFor(slot)
	require.NotNil(t, src)
	var dst *testcluster.Node
	for _, m := range masters {
		if m != src {
			dst = m
			break
		}
	}
	s := strconv.Itoa(slot)

	const keys = 250 // more than one GETKEYSINSLOT batch
	for i := range keys {
		_, err := src.Do(ctx, "SET", fmt.Sprintf("{user1}:%d", i), strconv.Itoa(i))
		require.NoError(t, err)
	}
	count := func(n *testcluster.Node) int64 {
		v, err := n.Do(ctx, "CLUSTER", "COUNTKEYSINSLOT", s)
		require.NoError(t, err)
		return v.(int64)
	}
	require.Equal(t, int64(keys), count(src))

	start := time.Now()
	require.NoError(t, c.MigrateSlot(ctx, slot, dst))
	t.Logf("migrating slot %d with %d keys took %v", slot, keys, time.Since(start).Round(time.Millisecond))
	require.Equal(t, dst, c.MasterFor(slot))
	require.Equal(t, int64(keys), count(dst))
	require.Equal(t, int64(0), count(src))
	v, err := dst.Do(ctx, "GET", "{user1}:7")
	require.NoError(t, err)
	require.Equal(t, "7", v)
	for _, n := range c.Nodes() { // every node agrees
		v, err := n.Do(ctx, "CLUSTER", "SLOTS")
		require.NoError(t, err)
		require.Equal(t, testcluster.NumSlots, slotsCovered(t, v))
	}
	_, err = src.Do(ctx, "GET", "{user1}:7")
	require.ErrorContains(t, err, "MOVED "+s+" "+dst.Addr())
	require.NoError(t, c.MigrateSlot(ctx, slot, dst), "migrating to the owner is a no-op")

	t.Run("halves", func(t *testing.T) {
		// Move it back in two halves, with a key moved by hand in between: the owner answers ASK for a
		// key it no longer holds.
		require.NoError(t, c.BeginMigration(ctx, slot, src))
		require.NoError(t, c.MigrateKeys(ctx, dst, src, "{user1}:1"))
		_, err := dst.Do(ctx, "GET", "{user1}:1")
		var se *testcluster.ServerError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "ASK", se.Prefix())
		require.Equal(t, "ASK "+s+" "+src.Addr(), se.Msg)
		v, err := dst.Do(ctx, "GET", "{user1}:2")
		require.NoError(t, err)
		require.Equal(t, "2", v, "the owner still serves the keys it holds")
		require.Equal(t, dst, c.MasterFor(slot), "the slot map does not change mid-migration")

		require.NoError(t, c.FinishMigration(ctx, slot, src))
		require.Equal(t, src, c.MasterFor(slot))
		require.Equal(t, int64(keys), count(src))
		require.Equal(t, int64(0), count(dst))
	})
}
