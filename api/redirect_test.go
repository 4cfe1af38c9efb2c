package api

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestMovedIsFollowedAndHealsTheMap: a slot moved by hand; the client follows MOVED, patches its
// map and refreshes once for the whole burst.
func TestMovedIsFollowedAndHealsTheMap(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	const slot = 100
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = keyInSlot("moved"+strconv.Itoa(i), slot)
		require.NoError(t, cl.Set(ctx, keys[i], i))
	}
	from := tc.MasterFor(slot)
	to := otherMaster(tc, from)
	require.NoError(t, tc.MigrateSlot(ctx, slot, to))
	before := cl.run.Load().smap.Refreshes()
	movedBefore := errorCount(t, from, "MOVED")

	// A burst of commands on the moved slot: all succeed.
	futures := make([]*Future, len(keys))
	for i, k := range keys {
		futures[i] = cl.Send(Cmd("GET", k))
	}
	for i, f := range futures {
		v, err := f.Await()
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(i), v.String())
	}
	// The patch is published by the slot map right after it hears of the MOVED.
	require.Eventually(t, func() bool { return cl.NodeForKey(keys[0]).Addr() == to.Addr() },
		5*time.Second, 5*time.Millisecond, "the map knows the new owner")
	assert.Positive(t, errorCount(t, from, "MOVED")-movedBefore, "the old owner did answer MOVED")
	// One refresh for the burst (it is debounced; wait for it to have started).
	require.Eventually(t, func() bool { return cl.run.Load().smap.Refreshes() > before }, 5*time.Second, 10*time.Millisecond)
	// A MOVED handled while that refresh ran may add one more (it may have asked before the move).
	assert.LessOrEqual(t, cl.run.Load().smap.Refreshes(), before+2, "the burst's refreshes are coalesced")
	// Healed: later commands go straight to the new owner.
	movedNow := errorCount(t, from, "MOVED")
	for _, k := range keys {
		_, err := cl.Get(ctx, k)
		require.NoError(t, err)
	}
	assert.Equal(t, movedNow, errorCount(t, from, "MOVED"), "no more MOVED once the map is healed")
}

// TestAskDuringMigration: keys already moved to the importing node are reached with ASK; when the
// migration completes, MOVED takes over.
func TestAskDuringMigration(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	const slot = 4242
	moved, stays := keyInSlot("ask-moved", slot), keyInSlot("ask-stays", slot)
	require.NoError(t, cl.Set(ctx, moved, "over there"))
	require.NoError(t, cl.Set(ctx, stays, "still here"))
	from := tc.MasterFor(slot)
	to := otherMaster(tc, from)
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, moved))

	askBefore := errorCount(t, from, "ASK")
	v, err := cl.Get(ctx, moved)
	require.NoError(t, err)
	assert.Equal(t, "over there", v)
	assert.Equal(t, askBefore+1, errorCount(t, from, "ASK"), "the source answered ASK")
	v, err = cl.Get(ctx, stays)
	require.NoError(t, err)
	assert.Equal(t, "still here", v)
	assert.Equal(t, from.Addr(), cl.NodeForKey(moved).Addr(), "ASK does not change the map")

	require.NoError(t, tc.FinishMigration(ctx, slot, to))
	movedBefore := errorCount(t, from, "MOVED")
	v, err = cl.Get(ctx, moved)
	require.NoError(t, err)
	assert.Equal(t, "over there", v)
	assert.Positive(t, errorCount(t, from, "MOVED")-movedBefore, "after the migration: MOVED")
}

// TestRedirectLoopEndsWithErrMaxRedirections: the owner says MIGRATING to a node that does not
// import: ASK there, MOVED back, forever.
func TestRedirectLoopEndsWithErrMaxRedirections(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{MaxCommandRedirections: 5, TopologyRefreshInterval: -1})
	ctx := context.Background()
	const slot = 9000
	key := keyInSlot("loop", slot)
	owner := tc.MasterFor(slot)
	other := otherMaster(tc, owner)
	_, err := owner.Do(ctx, "CLUSTER", "SETSLOT", strconv.Itoa(slot), "MIGRATING", other.ID())
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = owner.Do(context.Background(), "CLUSTER", "SETSLOT", strconv.Itoa(slot), "STABLE") })

	_, err = cl.Get(ctx, key)
	require.ErrorIs(t, err, ErrMaxRedirections)
	var mre *dispatcher.MaxRedirectionsError
	require.True(t, errors.As(err, &mre))
	assert.Len(t, mre.Hops, 6)
	assert.Contains(t, mre.Hops[0], "ASK")
	assert.Contains(t, mre.Hops[1], "MOVED")
	assert.Contains(t, err.Error(), "GET")
	assert.ErrorIs(t, err, ErrMoved, "the last redirect (the sixth hop, a MOVED) is kept")
	assert.NotErrorIs(t, err, ErrAsk)
}

// TestNodeAddressMap: nodes announce names nobody can resolve; the map makes them reachable, for
// the topology and for MOVED targets alike.
func TestNodeAddressMap(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas,
		AnnounceHostname: func(i int) string { return "n" + strconv.Itoa(i) + ".invalid" }})
	addrMap := map[string]string{}
	for i, n := range tc.Nodes() {
		addrMap["n"+strconv.Itoa(i)+".invalid:"+strconv.Itoa(n.Port())] = n.Addr()
	}
	cl := connect(t, tc, ClusterOptions{NodeAddressMap: addrMap, TopologyRefreshInterval: -1})
	ctx := context.Background()
	for _, m := range cl.Masters() {
		assert.Contains(t, m.Addr(), "127.0.0.1:", "reached through the map")
	}
	const slot = 777
	key := keyInSlot("mapped", slot)
	require.NoError(t, cl.Set(ctx, key, "v1"))
	to := otherMaster(tc, tc.MasterFor(slot))
	require.NoError(t, tc.MigrateSlot(ctx, slot, to))
	v, err := cl.Get(ctx, key) // MOVED names n<i>.invalid:port; the map turns it into 127.0.0.1
	require.NoError(t, err)
	assert.Equal(t, "v1", v)
	require.Eventually(t, func() bool { return cl.NodeForKey(key).Addr() == to.Addr() },
		5*time.Second, 5*time.Millisecond, "the map knows the new owner, by its mapped address")
}

// TestMasterWithoutEndpoint: a master that announces no endpoint ("?": the cluster prefers hostnames
// and it has none) cannot be reached; a command for its slots fails with ErrNoRoute and an error
// that names it and says why, while the other masters serve theirs.
func TestMasterWithoutEndpoint(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas,
		AnnounceHostname: func(i int) string { return map[int]string{0: "n0.invalid"}[i] }})
	n0, n1 := tc.Nodes()[0], tc.Nodes()[1]
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond, TopologyRefreshInterval: -1,
		NodeAddressMap: map[string]string{"n0.invalid:" + strconv.Itoa(n0.Port()): n0.Addr()}})
	ctx := context.Background()
	reached := keyInSlot("endpoint", 0)
	require.Equal(t, n0, tc.MasterFor(GetSlot(reached)))
	require.NoError(t, cl.Set(ctx, reached, "v"))

	const slot = 16000
	require.Equal(t, n1, tc.MasterFor(slot))
	_, err := cl.Get(ctx, keyInSlot("endpoint", slot))
	require.ErrorIs(t, err, ErrNoRoute)
	assert.Contains(t, err.Error(), "slot 16000")
	assert.Contains(t, err.Error(), n1.ID())
	assert.Contains(t, err.Error(), `announces no endpoint ("?"`)
	assert.Contains(t, err.Error(), "GET", "the error names the command")
	var gaveUp *GaveUpError // api's name for it: no need to import dispatcher
	require.ErrorAs(t, err, &gaveUp)
	assert.Equal(t, "GET", gaveUp.Command)

	// A slot moved to that master: the map still names the old one, whose MOVED names "?:port". The
	// client does not try to dial "?".
	var mu sync.Mutex
	var dialled []string
	cl.OnEvent(func(e Event) {
		if strings.HasPrefix(e.Addr, "?") {
			mu.Lock()
			dialled = append(dialled, string(e.Type)+" "+e.Addr)
			mu.Unlock()
		}
	})
	moved := keyInSlot("endpoint", 1)
	require.NoError(t, cl.Set(ctx, moved, "v"))
	require.NoError(t, tc.MigrateSlot(ctx, 1, n1))
	_, err = cl.Get(ctx, moved)
	require.ErrorIs(t, err, ErrNoRoute)
	assert.Contains(t, err.Error(), `announces no endpoint ("?"`)
	assert.Contains(t, err.Error(), "GET")
	require.NoError(t, cl.Close()) // every event delivered
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, dialled, "a node at \"?\"")
}

// TestUseReplicas: reads go to replicas too, writes never do.
func TestUseReplicas(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true})
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		require.NoError(t, cl.Set(ctx, "ur:"+strconv.Itoa(i), i))
	}
	for i := 0; i < 300; i++ {
		v, err := cl.Get(ctx, "ur:"+strconv.Itoa(i))
		require.NoError(t, err, "a replica's Nil (it lags) is checked with its master")
		assert.Equal(t, strconv.Itoa(i), v)
	}
	replicaGets, masterGets := 0, 0
	for _, r := range tc.Replicas() {
		replicaGets += callsOf(t, r, "get")
		// Replicas do count the SETs their master replicates to them; a SET sent to a replica by
		// the client would have been refused with MOVED (or READONLY).
		assert.Zero(t, errorCount(t, r, "MOVED")+errorCount(t, r, "READONLY"), "no write reached replica %s", r.Addr())
	}
	for _, m := range tc.Masters() {
		masterGets += callsOf(t, m, "get")
	}
	assert.Positive(t, replicaGets, "replicas served reads")
	assert.Positive(t, masterGets, "masters served reads too")
	assert.GreaterOrEqual(t, replicaGets+masterGets, 300)
	assert.LessOrEqual(t, replicaGets+masterGets, 300+replicaGets, "a GET runs once, or twice if a replica answered Nil")
}

// A NodeAddressMap entry for a master announced as "?:port" makes it reachable in the map as well
// as for a MOVED naming it. (The MOVED was followed, and the next map dropped the route again.)
func TestMappedUnknownEndpointIsReachable(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas,
		AnnounceHostname: func(i int) string { return map[int]string{0: "n0.invalid"}[i] }})
	n0, n1 := tc.Nodes()[0], tc.Nodes()[1]
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1, NodeAddressMap: map[string]string{
		"n0.invalid:" + strconv.Itoa(n0.Port()): n0.Addr(),
		"?:" + strconv.Itoa(n1.Port()):          n1.Addr(),
	}})
	ctx := context.Background()
	key := keyInSlot("mapped", 16000)
	require.Equal(t, n1, tc.MasterFor(GetSlot(key)))
	require.NoError(t, cl.Set(ctx, key, "v"), "n1's own slots")
	moved := keyInSlot("mapped", 1)
	require.NoError(t, cl.Set(ctx, moved, "v"))
	require.NoError(t, tc.MigrateSlot(ctx, 1, n1))
	v, err := cl.Get(ctx, moved) // a MOVED to "?:port", mapped
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	require.Eventually(t, func() bool {
		v, err := cl.Get(ctx, moved)
		return err == nil && v == "v" && cl.NodeForKey(moved) != nil && cl.NodeForKey(moved).Addr() == n1.Addr()
	}, 5*time.Second, 10*time.Millisecond, "after the next map too")
}

// With cluster-preferred-endpoint-type unknown-endpoint a node announces no host: "use the one
// you reached me by". CLUSTER SHARDS, CLUSTER SLOTS and a MOVED to ":port" all resolve it so,
// to the host the roots were given as (here "localhost", which the servers never announce). (The
// SHARDS reply's ip stood in, so the map held 127.0.0.1 and a MOVED opened a second connection
// to the same server under "localhost".)
func TestUnknownEndpointTakesTheHostReached(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas,
		ExtraConfig: []string{"cluster-preferred-endpoint-type unknown-endpoint"}})
	n0, n1 := tc.Nodes()[0], tc.Nodes()[1]
	hostReached := func(n *testcluster.Node) string { return "localhost:" + strconv.Itoa(n.Port()) }
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1,
		RootNodes: []NodeOptions{{URL: "redis://" + hostReached(n0)}}})
	var addrs []string
	for _, n := range cl.Nodes() {
		addrs = append(addrs, n.Addr())
	}
	assert.ElementsMatch(t, []string{hostReached(n0), hostReached(n1)}, addrs)
	ctx := context.Background()
	moved := keyInSlot("unknown-endpoint", 1)
	require.Equal(t, n0, tc.MasterFor(1))
	require.NoError(t, cl.Set(ctx, moved, "v"))
	require.NoError(t, tc.MigrateSlot(ctx, 1, n1))
	v, err := cl.Get(ctx, moved) // a MOVED to ":port"
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	require.Eventually(t, func() bool {
		n := cl.NodeForKey(moved)
		return n != nil && n.Addr() == hostReached(n1)
	}, 5*time.Second, 10*time.Millisecond, "the slot's new master, as reached")
	addrs = addrs[:0]
	for _, n := range cl.Nodes() {
		addrs = append(addrs, n.Addr())
	}
	assert.ElementsMatch(t, []string{hostReached(n0), hostReached(n1)}, addrs, "no second name for a server")
}

// With UseReplicas, a slot being migrated is read from its master once an ASK has said so: the
// source's replica, which Redis 7.0 does not tell of the migration, answers Nil for a key already
// moved, where its master answers ASK. (Half the reads, those sent to the replica, came back Nil.)
func TestReadsOfAMigratingSlotKeepOffReplicas(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true, TopologyRefreshInterval: -1})
	ctx := context.Background()
	key := keyInSlot("replica-migrating", 11)
	from := tc.MasterFor(11)
	to := otherMaster(tc, from)
	require.NoError(t, cl.Set(ctx, key, "v1"))
	require.NoError(t, tc.BeginMigration(ctx, 11, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, key))
	require.NoError(t, cl.Set(ctx, key, "v2")) // meets ASK at the source: the slot is migrating
	wrong := 0
	for range 20 {
		v, err := cl.Get(ctx, key)
		if err != nil || v != "v2" {
			wrong++
		}
	}
	assert.Zero(t, wrong, "reads that missed the moved key")
	require.NoError(t, tc.FinishMigration(ctx, 11, to))
}
