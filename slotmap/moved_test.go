package slotmap

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/node"
)

// The discovery after a MOVED asks the node it named first: that node serves the slot, where
// another may not have heard yet (a migration's last step reaches the two nodes the slot moved
// between before the others), and the other's answer would take the slot back from the MOVED's
// patch until the next MOVED patched it again. Here a slot at a time moves to a master that
// served none, and the other master keeps its stale view throughout. (Asked in random order among
// the masters, the stale one was asked first about every other time, and each time the map
// flipped back.)
func TestMovedRefreshAsksTheNamedNodeFirst(t *testing.T) {
	var mu sync.Mutex
	var moved []int // the slots the new master serves, in its own answer
	var staleAddr, newAddr string
	stale, staleAsked := serveShards(t, func() string {
		return fakeredis.ShardsReply(fakeredis.Shard{Addr: staleAddr, Ranges: [][2]int{{0, NumSlots - 1}}}, fakeredis.Shard{Addr: newAddr})
	})
	fresh, freshAsked := serveShards(t, func() string {
		mu.Lock()
		defer mu.Unlock()
		var old, own [][2]int
		from := 0
		for _, slot := range moved {
			old = append(old, [2]int{from, slot - 1})
			own = append(own, [2]int{slot, slot})
			from = slot + 1
		}
		old = append(old, [2]int{from, NumSlots - 1})
		return fakeredis.ShardsReply(fakeredis.Shard{Addr: staleAddr, Ranges: old}, fakeredis.Shard{Addr: newAddr, Ranges: own})
	})
	staleAddr, newAddr = stale.Addr(), fresh.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a := newBuildingActor(t, Options{Node: node.Options{ConnectTimeout: 5 * time.Second}})
	first := discover(ctx, a.opts, []string{staleAddr}, NumSlots)
	require.NoError(t, first.err)
	a.onDiscovered(nil, first)
	require.Equal(t, staleAddr, a.snap.Master(0).Addr)
	require.Len(t, a.snap.Masters(), 2, "the new master, serving no slot, is listed")

	const rounds = 10
	for i := range rounds {
		slot := 1 + 2*i // slots of the stale master's range, apart
		mu.Lock()
		moved = append(moved, slot)
		mu.Unlock()
		a.onMoved(nil, &Moved{Slot: slot, Addr: newAddr})
		require.Equal(t, newAddr, a.snap.Master(slot).Addr, "the MOVED patched the map")
		candidates := a.candidates()
		d := discover(ctx, a.opts, candidates, a.wantSlots())
		require.NoError(t, d.err)
		a.onDiscovered(nil, d)
		for _, s := range moved {
			require.Equal(t, newAddr, a.snap.Master(s).Addr, "round %d: slot %d stays where the MOVED said", i, s)
		}
		require.Equal(t, []string{newAddr, staleAddr}, candidates, "round %d: the node the MOVED named was asked first, each once", i)
	}
	assert.EqualValues(t, rounds, freshAsked.Load(), "every discovery after a MOVED asked the new master")
	assert.EqualValues(t, 1, staleAsked.Load(), "the stale master was asked for the first map only")
	a.refreshTimer.Stop()
}

// A MOVED's refresh keeps the spacing of other refreshes from the last discovery: MOVED replies
// that each discovery contradicts (a node that keeps redirecting where the cluster says the slot
// is not) cost one discovery every unreachableRetry, not one every debounce delay. (They cost one
// every 50 ms: about 19 discoveries a second in the review's loop.)
func TestMovedRefreshesAreSpaced(t *testing.T) {
	a := newBuildingActor(t, Options{Debounce: 10 * time.Millisecond})
	all := [][2]int{{0, NumSlots - 1}}
	a.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: all, Master: NodeInfo{Host: "127.0.0.1", Port: 1, Role: "master", Health: "online"}}}})
	a.onMoved(nil, &Moved{Slot: 7, Addr: "127.0.0.1:2"})
	require.True(t, a.scheduled)
	assert.Greater(t, time.Until(a.scheduledAt), unreachableRetry/2, "spaced from the discovery that just ended")
	a.refreshTimer.Stop()

	b := newBuildingActor(t, Options{Debounce: 10 * time.Millisecond})
	b.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: all, Master: NodeInfo{Host: "127.0.0.1", Port: 1, Role: "master", Health: "online"}}}})
	b.lastDone = time.Now().Add(-time.Minute)
	b.onMoved(nil, &Moved{Slot: 7, Addr: "127.0.0.1:2"})
	require.True(t, b.scheduled)
	assert.LessOrEqual(t, time.Until(b.scheduledAt), 10*time.Millisecond, "long after the last discovery: the debounce delay only")
	b.refreshTimer.Stop()
}
