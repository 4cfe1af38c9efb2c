package dispatcher

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

func TestProbeKeyHashesToItsSlot(t *testing.T) {
	a := &dispatcherActor{}
	slots := []int{0, 1, 5460, 5461, 10922, 16383}
	for range 20 {
		slots = append(slots, rand.IntN(slotmap.NumSlots))
	}
	for _, slot := range slots {
		k := a.probeKey(slot)
		assert.Equal(t, slot, slotmap.Slot(k), "%q", k)
		assert.Equal(t, k, a.probeKey(slot), "kept")
	}
}

// A queue refused by CLUSTERDOWN probes its slot's master before its round; the answer to a probe
// that comes while a gate holds the slot (a new map moved it meanwhile) leaves the queue to the
// gate, which routes it, in order, to the new master once the old one has answered the barrier.
func TestProbeAnsweredWhileAGateHoldsTheSlot(t *testing.T) {
	m, before, after, h, caught := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	defer a.giveUpWaiting()
	var rs []*Request
	for range 2 {
		r := &Request{}
		r.Init(h, []any{"RPUSH", "k", "v"})
		r.keyed, r.slot, r.Deadline = true, int16(slotmap.Slot("k")), time.Now().Add(time.Minute)
		a.backOff(r, resp.ErrClusterDown)
		rs = append(rs, r)
	}
	q := a.held[int(rs[0].slot)]
	require.NotNil(t, q)
	q.timer.Stop()
	q.at, q.back = time.Now(), time.Now().Add(-time.Second) // none still coming back
	ctx := &sendRecorder{}
	a.onRetryNow(ctx, q) // the end of its backoff
	sent := toNodes(ctx)
	require.Len(t, sent, 1, "the probe alone")
	assert.Equal(t, "EXISTS", sent[0].Args[0])
	assert.Equal(t, before.Master(0).Node.PID(), ctx.to[0], "to the slot's master")
	assert.Equal(t, probing, q.probe)

	ctx = &sendRecorder{messageOnly: messageOnly{msg: after}}
	a.Receive(ctx) // the map moves the slot: a barrier to the old master
	barriers := toNodes(ctx)
	require.Len(t, barriers, 1)
	require.Same(t, a.held[int(rs[0].slot)], q)
	require.NotNil(t, q.gate, "the gate is put on the queue")

	ctx = &sendRecorder{}
	a.onProbeDone(ctx, &probeDone{q: q}) // the old master answered the probe
	assert.Empty(t, ctx.sent, "the gate holds the queue")
	assert.Same(t, q, a.held[int(rs[0].slot)])

	barriers[0].CompleteHere(resp.Value{}, nil)
	ctx.msg = nextOpen(t, caught)
	a.Receive(ctx)
	assert.Equal(t, []*node.Request{&rs[0].Request, &rs[1].Request}, toNodes(ctx), "in order, once the gate opens")
	for _, pid := range ctx.to {
		assert.Equal(t, after.Master(0).Node.PID(), pid, "to the new master")
	}
	assert.Empty(t, a.held)
}
