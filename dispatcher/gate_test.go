package dispatcher

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// catcher is an actor that passes on every message it gets but its lifecycle's.
type catcher chan any

func (c catcher) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	default:
		c <- ctx.Message()
	}
}

// movedMaps returns two maps of a fake cluster of two servers: in the first A serves every slot,
// in the second B. The slot map is subscribed to by the actor behind the returned Handle, a
// catcher, whose channel is returned too.
func movedMaps(t *testing.T) (m *slotmap.Map, before, after *slotmap.Snapshot, h *Handle, caught catcher) {
	var shards atomic.Value
	serve := serveSlowly(0, func() string { return shards.Load().(string) }, func([]string) string { return "+OK\r\n" })
	a, b := fakeredis.New(t, serve), fakeredis.New(t, serve)
	all := [][2]int{{0, slotmap.NumSlots - 1}}
	shards.Store(fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: all}, fakeredis.Shard{Addr: b.Addr()}))
	sys := actors.NewSystem(nil)
	m, err := slotmap.Start(sys, slotmap.Options{Roots: []string{a.Addr()}})
	require.NoError(t, err)
	t.Cleanup(func() {
		m.Close(time.Second)
		sys.Shutdown()
	})
	ctx, cancel := context.WithTimeout(context.Background(), testwait.Bound)
	defer cancel()
	require.NoError(t, m.Ready(ctx))
	before = m.Snapshot()
	caught = make(catcher, 1024)
	pid, err := sys.Spawn("", func() actor.Actor { return caught }, actors.SpawnOptions{})
	require.NoError(t, err)
	m.Subscribe(pid)
	shards.Store(fakeredis.ShardsReply(fakeredis.Shard{Addr: b.Addr(), Ranges: all}, fakeredis.Shard{Addr: a.Addr()}))
	m.Refresh()
	for after == nil {
		if s, ok := testwait.Recv(t, caught, "no map moved the slots").(*slotmap.Snapshot); ok && s.Master(0).Addr == b.Addr() {
			after = s
		}
	}
	return m, before, after, &Handle{sys: sys, pid: pid}, caught
}

// nextOpen returns the next gateOpen caught.
func nextOpen(t *testing.T, caught catcher) *gateOpen {
	for {
		if open, ok := testwait.Recv(t, caught, "no gate opened").(*gateOpen); ok {
			return open
		}
	}
}

// toNodes returns the node requests among what ctx sent.
func toNodes(ctx *sendRecorder) []*node.Request {
	var rs []*node.Request
	for _, m := range ctx.sent {
		if r, ok := m.(*node.Request); ok {
			rs = append(rs, r)
		}
	}
	return rs
}

// A map that gives a slot another master holds the slot's new commands until what was sent to
// the old master has come back: a PING sent there after it (the barrier). What comes back (MOVED)
// is followed at once, and the new ones after the barrier's completion, which opens the gate; so
// does gateFor with no completion (a frozen old master).
func TestMovedSlotHoldsNewCommandsUntilTheOldMasterAnswers(t *testing.T) {
	m, before, after, h, caught := movedMaps(t)
	oldMaster, newMaster := before.Master(0), after.Master(0)
	opts := Options{Map: m}.withDefaults()
	a := &dispatcherActor{opts: opts, h: h, snap: before}
	defer a.giveUpWaiting()
	ctx := &sendRecorder{messageOnly: messageOnly{msg: after}}
	a.Receive(ctx)
	require.Len(t, ctx.to, 1, "one barrier for the old master")
	assert.Equal(t, oldMaster.Node.PID(), ctx.to[0])
	ping, ok := ctx.sent[0].(*node.Request)
	require.True(t, ok, "%T", ctx.sent[0])
	assert.Equal(t, []any{"PING"}, ping.Args)
	assert.Len(t, a.gated, slotmap.NumSlots)

	send := func(key string) *Request {
		r := &Request{}
		r.Init(h, []any{"RPUSH", key, "v"})
		r.Deadline = time.Now().Add(time.Minute)
		return r
	}
	ctx = &sendRecorder{}
	fresh := send("k")
	ctx.msg = fresh
	a.Receive(ctx)
	back := send("k") // routed to the old master before the map moved the slot, it met MOVED
	back.keyed, back.slot = true, int16(slotmap.Slot("k"))
	a.onReturned(ctx, back, &resp.Error{Prefix: "MOVED", Msg: fmt.Sprintf("%d %s", back.slot, newMaster.Addr)})
	assert.Equal(t, []*node.Request{&back.Request}, toNodes(ctx), "what comes back is followed at once")

	ping.CompleteHere(resp.Value{}, nil) // the old master's PONG
	ctx.msg = nextOpen(t, caught)
	a.Receive(ctx)
	assert.Equal(t, []*node.Request{&back.Request, &fresh.Request}, toNodes(ctx), "the new one after the barrier")
	assert.Empty(t, a.gated)
	assert.Empty(t, a.held)
	for i, m := range ctx.sent {
		if _, ok := m.(*node.Request); ok {
			assert.Equal(t, newMaster.Node.PID(), ctx.to[i], "to the new master")
		}
	}

	// With no answer from the old master, the gate opens at gateFor.
	a = &dispatcherActor{opts: opts, h: h, snap: before}
	a.Receive(&sendRecorder{messageOnly: messageOnly{msg: after}})
	ctx = &sendRecorder{}
	fresh = send("k")
	ctx.msg = fresh
	a.Receive(ctx)
	assert.Empty(t, ctx.to)
	ctx.msg = nextOpen(t, caught)
	a.Receive(ctx)
	assert.Equal(t, []*node.Request{&fresh.Request}, toNodes(ctx))
}

// A slot whose TRYAGAIN retries wait in a queue (which lets commands of one key pass) is held all
// the same when the map gives it another master: the gate is put on that queue, which holds the
// slot's new commands until the barrier completes, then routes them after its retries.
func TestMovedSlotWithRetriesWaitingIsHeld(t *testing.T) {
	m, before, after, h, caught := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	defer a.giveUpWaiting()
	send := func(args ...any) *Request {
		r := &Request{}
		r.Init(h, args)
		r.Deadline = time.Now().Add(time.Minute)
		return r
	}
	retry := send("MGET", "{k}a", "{k}b") // routed before, it met TRYAGAIN
	retry.keyed, retry.multi, retry.slot = true, true, int16(slotmap.Slot("{k}"))
	a.onReturned(messageOnly{}, retry, &resp.Error{Prefix: "TRYAGAIN", Msg: "Multiple keys request during rehashing of slot"})
	q := a.heldFor(retry, comeBack)
	require.NotNil(t, q)
	require.False(t, q.holdsNew, "TRYAGAIN alone lets commands of one key pass")

	ctx := &sendRecorder{messageOnly: messageOnly{msg: after}}
	a.Receive(ctx)
	require.Len(t, toNodes(ctx), 1, "the barrier")
	ping := toNodes(ctx)[0]
	fresh := send("RPUSH", "{k}list", "v")
	ctx = &sendRecorder{messageOnly: messageOnly{msg: fresh}}
	a.Receive(ctx)
	assert.Empty(t, toNodes(ctx), "held by the gate on the retries' queue")

	ping.CompleteHere(resp.Value{}, nil)
	// The gate opens; the queue's own timer (its backoff, 10-30 ms) may have fired meanwhile, and
	// its retryNow, also caught, routes it then: a's messages are handed to it until both are sent.
	for len(toNodes(ctx)) < 2 {
		ctx.msg = testwait.Recv(t, caught, "the queue was not routed")
		a.Receive(ctx)
	}
	assert.Equal(t, []*node.Request{&retry.Request, &fresh.Request}, toNodes(ctx))
	assert.Empty(t, a.held)
}

// A stopping dispatcher sends what a gate holds, as it sends what was sent before Close, instead
// of failing it (a review: 200 RPUSHes sent just after a failover failed with "actor stopped" at
// Close).
func TestStoppingSendsWhatAGateHolds(t *testing.T) {
	m, before, after, h, _ := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	a.Receive(&sendRecorder{messageOnly: messageOnly{msg: after}})
	fresh := &Request{}
	fresh.Init(h, []any{"RPUSH", "k", "v"})
	ctx := &sendRecorder{messageOnly: messageOnly{msg: fresh}}
	a.Receive(ctx)
	require.Empty(t, toNodes(ctx), "held by the gate")
	ctx.msg = &actor.Stopping{}
	a.Receive(ctx)
	assert.Equal(t, []*node.Request{&fresh.Request}, toNodes(ctx))
	assert.False(t, fresh.IsDone())
	assert.Empty(t, a.gates)
}

// takesBack is an Owner that takes back every request offered to it, and counts them.
type takesBack struct{ n atomic.Int64 }

func (o *takesBack) Return(*node.Request, error) bool {
	o.n.Add(1)
	return true
}

// A gate's barrier sent to an unreachable node whose offline queue is past its bound (after a
// failover at a command a millisecond some 2000 wait there) waits behind what is queued there, and
// completes once the node has given it back. (With no Owner it met the bound at once, and the gate
// opened before the node's close gave its queue back: 15–20 of 4000 RPUSHes out of place in a
// helper's runs of the api package's failover order test.) So does a retry queue's probe.
func TestSignalWaitsBehindAFullOfflineQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: the node stays unreachable
	sys := actors.NewSystem(nil)
	t.Cleanup(sys.Shutdown)
	n, err := node.Start(sys, node.Options{Addr: addr, OfflineQueue: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close(time.Second) })
	caught := make(catcher, 16)
	pid, err := sys.Spawn("", func() actor.Actor { return caught }, actors.SpawnOptions{})
	require.NoError(t, err)

	owner := &takesBack{}
	const queued = 5 // past the bound: owned, with a deadline, they wait there all the same
	for i := range queued {
		r := node.NewRequest("RPUSH", "k", i)
		r.Owner, r.Until = owner, time.Now().Add(time.Minute)
		n.Send(r)
	}
	g := &gate{from: addr, until: time.Now().Add(time.Minute)}
	barrier := g.barrier(sys.Root(), pid)
	n.Send(barrier)
	p := &nodeProbe{addr: addr}
	probe := signal(&prober{p: p, root: sys.Root(), pid: pid}, time.Now().Add(time.Minute), "SETRANGE", "k", "0", "")
	n.Send(probe)
	unowned := node.NewRequest("PING") // refused at the bound, after the node took the two
	n.Send(unowned)
	_, err = unowned.Future.Await()
	require.ErrorIs(t, err, node.ErrOfflineQueueFull)
	assert.False(t, barrier.IsDone(), "the barrier waits behind the queue")
	assert.False(t, probe.IsDone(), "the probe waits behind the queue")

	n.ReleaseQueued() // a new map makes it no master: it gives its queue back
	open, ok := testwait.Recv(t, caught, "the barrier never completed").(*gateOpen)
	require.True(t, ok)
	assert.Same(t, g, open.g)
	assert.EqualValues(t, queued, owner.n.Load(), "the barrier completed after what was queued before it came back")
	done, ok := testwait.Recv(t, caught, "the probe never completed").(*probeDone)
	require.True(t, ok)
	assert.Same(t, p, done.p)
	assert.Error(t, done.err)
}
