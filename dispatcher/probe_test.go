package dispatcher

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

func TestProbeKeysHashToTheirSlots(t *testing.T) {
	keys := probeKeys()
	for slot, k := range keys {
		require.Equal(t, slot, slotmap.Slot(k), "%q", k)
	}
	assert.Same(t, keys, probeKeys(), "made once")
}

// A user denied the probe (NOPERM) has no more: its rounds go whole.
func TestProbeDeniedIsNotSentAgain(t *testing.T) {
	m, before, _, h, _ := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	defer a.giveUpWaiting()
	q := refusedQueue(t, a, h, "k")
	ctx := &sendRecorder{}
	a.onRetryNow(ctx, q)
	require.Len(t, toNodes(ctx), 1, "the probe")
	p := a.probes[before.Master(0).Addr]
	require.NotNil(t, p)
	a.onProbeDone(ctx, &probeDone{p: p, err: &resp.Error{Prefix: "NOPERM", Msg: "this user has no permissions to access one of the keys used as arguments"}})
	assert.Len(t, toNodes(ctx), 3, "the round, after the probe")
	assert.True(t, a.probeDenied)
	assert.Empty(t, a.probes)

	q = refusedQueue(t, a, h, "k")
	ctx = &sendRecorder{}
	a.onRetryNow(ctx, q)
	assert.Len(t, toNodes(ctx), 2, "the round, unprobed")
}

// refusedQueue returns the queue of two RPUSHes to key a refused with CLUSTERDOWN, at the end of
// its backoff, none of them still coming back.
func refusedQueue(t *testing.T, a *dispatcherActor, h *Handle, key string) *retryQueue {
	var first *Request
	for range 2 {
		r := &Request{}
		r.Init(h, []any{"RPUSH", key, "v"})
		r.keyed, r.slot, r.Deadline = true, int16(slotmap.Slot(key)), time.Now().Add(time.Minute)
		a.backOff(r, resp.ErrClusterDown)
		if first == nil {
			first = r
		}
	}
	q := a.held[int(first.slot)]
	require.NotNil(t, q)
	require.Len(t, q.members(), 2)
	atBackoffsEnd(q)
	return q
}

// atBackoffsEnd makes q's backoff over, none of its members still coming back.
func atBackoffsEnd(q *retryQueue) {
	q.timer.Stop()
	q.at, q.back = time.Now(), time.Now().Add(-time.Second)
}

// The queues of slots of one master share its probe: CLUSTERDOWN and LOADING are the server's
// states, and one command a round tells them all.
func TestQueuesOfAMasterShareItsProbe(t *testing.T) {
	m, before, _, h, _ := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	defer a.giveUpWaiting()
	require.NotEqual(t, slotmap.Slot("k"), slotmap.Slot("other"))
	qs := []*retryQueue{refusedQueue(t, a, h, "k"), refusedQueue(t, a, h, "other")}
	ctx := &sendRecorder{}
	for _, q := range qs {
		a.onRetryNow(ctx, q)
	}
	require.Len(t, toNodes(ctx), 1, "one probe for both")
	p := a.probes[before.Master(0).Addr]
	require.NotNil(t, p)
	assert.Equal(t, qs, p.queues)

	a.onProbeDone(ctx, &probeDone{p: p, err: resp.ErrClusterDown}) // refused: both wait again
	assert.Len(t, toNodes(ctx), 1, "nothing more sent")
	assert.Equal(t, qs[0].at, qs[1].at, "the same backoff: they share the next probe too")
	for _, q := range qs {
		assert.Equal(t, unprobed, q.probe)
		assert.Same(t, q, a.held[q.slot])
		atBackoffsEnd(q)
	}
	ctx = &sendRecorder{}
	for _, q := range qs {
		a.onRetryNow(ctx, q)
	}
	require.Len(t, toNodes(ctx), 1, "one probe again")
	var want []*node.Request
	for _, q := range qs {
		for _, r := range q.members() {
			want = append(want, &r.Request)
		}
	}
	a.onProbeDone(ctx, &probeDone{p: a.probes[before.Master(0).Addr]})
	assert.Equal(t, want, toNodes(ctx)[1:], "both rounds, in order, once it is answered")
	assert.Empty(t, a.held)
}

// A queue refused by CLUSTERDOWN probes its slot's master before its round; the answer to a probe
// that comes while a gate holds the slot (a new map moved it meanwhile) leaves the queue to the
// gate, and so does any further map before the gate opens, which routes it, in order, to the new
// master once the old one has answered the barrier. (Routed by such a map, it went to the new
// master past the gate, and the slot's later commands after it, ahead of what the old master had
// still to give back: a review's unit test.)
func TestProbeAnsweredWhileAGateHoldsTheSlot(t *testing.T) {
	m, before, after, h, caught := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	defer a.giveUpWaiting()
	q := refusedQueue(t, a, h, "k")
	rs := q.members()
	ctx := &sendRecorder{}
	a.onRetryNow(ctx, q) // the end of its backoff
	sent := toNodes(ctx)
	require.Len(t, sent, 1, "the probe alone")
	assert.Equal(t, []any{"SETRANGE", probeKeys()[rs[0].slot], "0", ""}, sent[0].Args, "a write of nothing to the slot")
	assert.Equal(t, before.Master(0).Node.PID(), ctx.to[0], "to the slot's master")
	assert.Equal(t, probing, q.probe)

	ctx = &sendRecorder{messageOnly: messageOnly{msg: after}}
	a.Receive(ctx) // the map moves the slot: a barrier to the old master
	barriers := toNodes(ctx)
	require.Len(t, barriers, 1)
	require.Same(t, a.held[int(rs[0].slot)], q)
	require.NotNil(t, q.gate, "the gate is put on the queue")

	ctx = &sendRecorder{}
	a.onProbeDone(ctx, &probeDone{p: a.probes[before.Master(0).Addr]}) // the old master answered it
	assert.Empty(t, ctx.sent, "the gate holds the queue")
	assert.Same(t, q, a.held[int(rs[0].slot)])

	ctx = &sendRecorder{messageOnly: messageOnly{msg: after}}
	a.Receive(ctx) // another map, the gate still closed
	assert.Empty(t, toNodes(ctx), "a map routed the gated queue")
	assert.Same(t, q, a.held[int(rs[0].slot)], "the queue still holds the slot")

	barriers[0].CompleteHere(resp.Value{}, nil)
	ctx.msg = nextOpen(t, caught)
	a.Receive(ctx)
	assert.Equal(t, []*node.Request{&rs[0].Request, &rs[1].Request}, toNodes(ctx), "in order, once the gate opens")
	for _, pid := range ctx.to {
		assert.Equal(t, after.Master(0).Node.PID(), pid, "to the new master")
	}
	assert.Empty(t, a.held)
}

func TestProbeAnswersThatAreRefusals(t *testing.T) {
	for _, tc := range []struct {
		err     error
		refusal bool
	}{
		{nil, false},
		{resp.ErrClusterDown, true},
		{&resp.Error{Prefix: "LOADING", Msg: "Redis is loading the dataset in memory"}, true},
		{resp.ErrMasterDown, true},
		{&node.ConnError{Addr: "a:1", Command: "SETRANGE", Err: node.ErrTimeout}, true},               // unwritten by its deadline
		{&node.ConnError{Addr: "a:1", Command: "SETRANGE", Written: true, Err: node.ErrClosed}, true}, // lost with its connection
		{&node.CommandError{Addr: "a:1", Command: "SETRANGE", Err: node.ErrLateReply}, false},         // written, a slow server
		{&resp.Error{Prefix: "NOPERM", Msg: "no permissions"}, false},
		{&resp.Error{Prefix: "MOVED", Msg: "3999 127.0.0.1:6381"}, false},
		{&resp.Error{Prefix: "OOM", Msg: "command not allowed"}, false},
	} {
		assert.Equal(t, tc.refusal, refusedStill(tc.err), "%v", tc.err)
	}
}
