package slotmap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/node"
)

// With replicas read (UseReplicas), a replica the cluster lists but not online (loading after a
// restart) is left out of the map, and the map looks again as for a replica down, until it is
// online: before, nothing looked until the periodic refresh (30 s), and it got no reads meanwhile.
// Without replica reads, it does not matter, and nothing looks.
func TestReplicaNotOnlineIsLookedForAgain(t *testing.T) {
	for _, reads := range []bool{true, false} {
		a := newBuildingActor(t, Options{QueryTimeout: 100 * time.Millisecond, Node: node.Options{ReadOnly: reads}})
		a.timer = time.NewTimer(time.Hour)
		a.lastFull = time.Now() // no periodic refresh due
		t.Cleanup(func() { a.timer.Stop() })
		all := [][2]int{{0, NumSlots - 1}}
		master := NodeInfo{Host: "127.0.0.1", Port: 1, Role: "master", Health: "online"}
		replica := NodeInfo{Host: "127.0.0.1", Port: 2, Role: "replica", Health: "loading"}
		a.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: all, Master: master, Replicas: []NodeInfo{replica}}}})
		require.NotNil(t, a.snap)
		assert.Empty(t, a.snap.Shard(0).Replicas, "a loading replica takes no reads")

		before := a.shared.refreshes.Load()
		a.lastTick = time.Time{}
		a.onTick()
		if reads {
			assert.Equal(t, before+1, a.shared.refreshes.Load(), "the map looks again for the loading replica")
		} else {
			assert.Equal(t, before, a.shared.refreshes.Load())
		}

		replica.Health = "online"
		a.refreshing = false
		a.onDiscovered(nil, &discovered{shards: []Shard{{Ranges: all, Master: master, Replicas: []NodeInfo{replica}}}})
		assert.Len(t, a.snap.Shard(0).Replicas, 1)
		before = a.shared.refreshes.Load()
		a.lastTick = time.Time{}
		a.onTick()
		assert.Equal(t, before, a.shared.refreshes.Load(), "online: nothing more to look for")
	}
}
