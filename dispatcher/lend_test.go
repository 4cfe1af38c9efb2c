package dispatcher

import (
	"runtime"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/slotmap"
)

// connectedNode starts a node, in sys, for a standalone server of its own, and waits for its
// connection.
func connectedNode(t *testing.T, sys *actors.System) *node.Node {
	t.Helper()
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n, err := node.Start(sys, node.Options{Addr: srv.Addr()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close(time.Second) })
	_, err = n.Do(t.Context(), "PING")
	require.NoError(t, err)
	return n
}

// A lone request sent while the dispatcher and its node are idle is routed and written on the
// sender's goroutine: when SendAlone says so, the node has counted the write already.
func TestLoneRequestIsWrittenByItsSender(t *testing.T) {
	sys := actors.NewSystem(nil)
	t.Cleanup(sys.Shutdown)
	n := connectedNode(t, sys)

	// Every slot of a zero Snapshot belongs to its first shard.
	snap := &slotmap.Snapshot{Shards: []*slotmap.ShardRefs{{Master: &slotmap.Ref{Addr: n.Addr(), Node: n}}}}
	h := &Handle{sys: sys, lend: true}
	pid, err := sys.Spawn("", func() actor.Actor {
		return &dispatcherActor{opts: Options{}.withDefaults(), h: h, snap: snap}
	}, actors.SpawnOptions{Lender: &h.lender})
	require.NoError(t, err)
	h.pid = pid

	for deadline := time.Now().Add(10 * time.Second); ; {
		before := n.Stats().Writes
		r := &Request{}
		r.Init(h, []any{"SET", "k", "v"})
		lent := h.SendAlone(t.Context(), r)
		written := n.Stats().Writes == before+1
		v, err := r.Future.Await()
		require.NoError(t, err)
		require.Equal(t, "OK", v.String())
		if lent {
			require.True(t, written, "SendAlone reported a write its node had not counted")
			return
		}
		require.True(t, time.Now().Before(deadline), "no request was ever written by its sender")
		runtime.Gosched()
	}
}

// sendRecorder is an actor.Context that knows its message and records what the actor sends.
type sendRecorder struct {
	messageOnly
	sent []any
	to   []*actor.PID
}

func (c *sendRecorder) Send(pid *actor.PID, msg any) {
	c.sent, c.to = append(c.sent, msg), append(c.to, pid)
}

// A panic while routing a lent request does not leave the instance routing "lent": the requests
// it routes afterwards (a restart routes those waiting in a backoff) are sent to their node, not
// handed off to a sender that is gone.
func TestPanicInALentRouteEndsTheLend(t *testing.T) {
	a := &dispatcherActor{opts: Options{}.withDefaults(), snap: &slotmap.Snapshot{Shards: []*slotmap.ShardRefs{nil}}}
	r := &Request{}
	r.Init(nil, []any{"PING"}) // keyless: a random shard's master, here a nil shard
	require.Panics(t, func() { a.Receive(messageOnly{msg: lent{r}}) })

	a.snap = &slotmap.Snapshot{Shards: []*slotmap.ShardRefs{{Master: &slotmap.Ref{Node: &node.Node{}}}}}
	next := &Request{}
	next.Init(nil, []any{"GET", "k"})
	ctx := &sendRecorder{messageOnly: messageOnly{msg: next}}
	a.Receive(ctx)
	require.Nil(t, next.handOff, "handed off after the lend ended")
	require.Equal(t, []any{&next.Request}, ctx.sent, "not sent to its node")
}
