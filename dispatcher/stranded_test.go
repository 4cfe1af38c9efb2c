package dispatcher

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/slotmap"
)

// A request a node gave back unwritten as it left the map (released, or closed) is routed by the
// map at once, to the slot's new node; but when the map still sends it to the node that gave it
// back, it waits in a backoff for a newer map instead of going straight back there.
func TestStrandedRequestGoesBackOnlyByANewerMap(t *testing.T) {
	var shards string
	srv := fakeredis.New(t, serveSlowly(0, func() string { return shards }, func([]string) string { return "+OK\r\n" }))
	shards = fakeredis.ShardsReply(fakeredis.Shard{Addr: srv.Addr(), Ranges: [][2]int{{0, slotmap.NumSlots - 1}}})
	m, _ := startOn(t, slotmap.Options{Roots: []string{srv.Addr()}})
	snap := m.Snapshot()
	h := idleHandle(t)
	owner := snap.Master(slotmap.Slot("k"))
	require.NotNil(t, owner)

	for _, tc := range []struct {
		name, from string
		waits      bool
	}{
		{"given back by the slot's node", owner.Addr, true},
		{"given back by a node the map dropped", "127.0.0.1:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: snap}
			defer a.giveUpWaiting()
			for _, cause := range []error{node.ErrReleased, node.ErrClosed} {
				r := &Request{}
				r.Init(h, []any{"GET", "k"})
				r.Deadline = time.Now().Add(time.Minute)
				ctx := &sendRecorder{}
				a.onReturned(ctx, r, &node.ConnError{Addr: tc.from, Command: "GET", Err: cause})
				require.False(t, r.IsDone(), "%v", cause)
				if tc.waits {
					assert.Empty(t, ctx.to, "%v: sent straight back", cause)
					assert.True(t, a.isWaiting(r), "%v", cause)
				} else {
					assert.Equal(t, []*actor.PID{owner.Node.PID()}, ctx.to, "%v: routed at once", cause)
					assert.False(t, a.isWaiting(r), "%v", cause)
				}
			}
		})
	}
}
