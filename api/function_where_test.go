package api

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A call is loaded where it ran: a slot being migrated to a master that lacks the library (one
// added since, with no slots yet too) is called there through ASK, and that master is loaded
// (before, the client asked the slot's source master, which had it, and every call failed with
// "Function not found" until the slot had moved; and Load left out a master with no slots).
func TestLibraryLoadsWhereTheCallWent(t *testing.T) {
	for _, empty := range []bool{false, true} {
		name := map[bool]string{false: "a master lacking it", true: "a master with no slots"}[empty]
		t.Run(name, func(t *testing.T) {
			opts := testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas}
			if empty {
				opts.EmptyMasters = 1
			}
			tc := testcluster.New(t, opts)
			cl := connect(t, tc, ClusterOptions{})
			ctx := context.Background()
			lib := NewLibrary(counterLibrary)
			require.NoError(t, lib.Load(ctx, cl))
			slot := GetSlot("{re}")
			from := tc.MasterFor(slot)
			to := otherMaster(tc, from)
			if empty {
				to = tc.Nodes()[2] // Load reached it too: Masters lists those with no slots
			}
			_, err := to.Do(ctx, "FUNCTION", "FLUSH") // as a master added since
			require.NoError(t, err)
			loads := callsOf(t, to, "function|load")
			key := "{re}n"
			require.NoError(t, cl.Set(ctx, key, 1))
			require.NoError(t, tc.BeginMigration(ctx, slot, to))
			require.NoError(t, tc.MigrateKeys(ctx, from, to, key))
			v, err := lib.Call(ctx, cl, "bump", []string{key}, 1)
			require.NoError(t, err)
			assert.Equal(t, "2", v.String())
			assert.Equal(t, loads+1, callsOf(t, to, "function|load"), "loaded where it ran")
			require.NoError(t, tc.FinishMigration(ctx, slot, to))
		})
	}
}

// A call that loads the library where it is missing does not wait for the other masters: one of
// them down fails nothing (before, the call loaded every master and failed at CommandTimeout with
// the down one's error, though its own master had been loaded).
func TestLibraryCallLoadsOnlyItsServer(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 2 * time.Second})
	ctx := context.Background()
	lib := NewLibrary(counterLibrary)
	require.NoError(t, lib.Load(ctx, cl))
	key := keyInSlot("fn", 0)
	lacking := tc.MasterFor(0)
	_, err := lacking.Do(ctx, "FUNCTION", "FLUSH")
	require.NoError(t, err)
	require.NoError(t, tc.Kill(otherMaster(tc, lacking)))
	v, err := lib.Call(ctx, cl, "bump", []string{key}, 1)
	require.NoError(t, err)
	assert.Equal(t, "1", v.String())
}

// A call with no keys goes through the cluster's routing, as a command does: one whose master
// dies is sent to another (before, it was sent to a master picked up front, and 8 of 30 calls
// failed with the node gone while its failover ran).
func TestLibraryCallWithNoKeysSurvivesAFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 10 * time.Second})
	ctx := context.Background()
	lib := NewLibrary(counterLibrary)
	require.NoError(t, lib.Load(ctx, cl))
	require.NoError(t, tc.Kill(tc.Masters()[0]))
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if v, err := lib.Call(ctx, cl, "hello", nil); err != nil || v.String() != "hi" {
				t.Logf("%q, %v", v.String(), err)
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
}
