package dispatcher

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
)

// A replica's Nil is checked with the master of its slot while that master is reachable; while it
// is not (a failover), the replica's Nil is the answer, rather than a wait for the new master.
func TestReplicaNilIsCheckedOnlyWithAReachableMaster(t *testing.T) {
	sys := actors.NewSystem(nil)
	t.Cleanup(sys.Shutdown)
	up := connectedNode(t, sys)
	down, err := node.Start(sys, node.Options{Addr: "127.0.0.1:1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = down.Close(time.Second) })

	r := &Request{master: up}
	assert.True(t, r.retryable(node.ErrMissingReply), "checked with the master")
	r.master = down
	assert.False(t, r.retryable(node.ErrMissingReply), "the replica's Nil is the answer")
}

// A replica's Nil offered while the client closes is the answer: the server gave one, and no
// check with the master is to come (before, the read failed as if the client had closed first).
func TestReplicaNilAtCloseIsTheAnswer(t *testing.T) {
	sys := actors.NewSystem(nil)
	t.Cleanup(sys.Shutdown)
	h := &Handle{sys: sys}
	h.closed.Store(true)
	r := &Request{master: connectedNode(t, sys)}
	r.Init(h, []any{"GET", "k"})
	assert.False(t, r.Return(&r.Request, node.ErrMissingReply), "left to the node, which completes it with the Nil")
	assert.False(t, r.IsDone())
}
