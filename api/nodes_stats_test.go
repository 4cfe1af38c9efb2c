package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// A node's Stats count the commands written on its shared connection and the writes that carried
// them, its connections made ready and lost, and its blocking connections in use and idle.
func TestNodeStats(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{ClientName: "counted"})
	ready := make(chan Event, 16)
	cl.OnEvent(func(e Event) {
		if e.Type == EventNodeReady || e.Type == EventNodeDisconnect {
			ready <- e
		}
	})
	ctx := context.Background()
	m := tc.Masters()[0]
	var n *Node
	for _, x := range cl.Masters() {
		if x.Addr() == m.Addr() {
			n = x
		}
	}
	require.NotNil(t, n)
	key := tagOn(tc, m, "stats")

	before := n.Stats()
	assert.True(t, before.Connected)
	assert.Positive(t, before.Connects)
	assert.Zero(t, before.DialErrors)
	for i := range 50 {
		require.NoError(t, cl.Set(ctx, fmt.Sprint(key, i), "v"))
	}
	after := n.Stats()
	assert.GreaterOrEqual(t, after.Commands-before.Commands, uint64(50))
	assert.Positive(t, after.Writes-before.Writes)
	assert.LessOrEqual(t, after.Writes-before.Writes, after.Commands-before.Commands)

	popped := make(chan error, 1)
	go func() {
		_, err := cl.Do(ctx, Cmd("BLPOP", key+"-list", 5))
		popped <- err
	}()
	for deadline := time.Now().Add(testwait.Bound); n.Stats().BlockingInUse != 1; {
		require.True(t, time.Now().Before(deadline), "BLPOP never took a blocking connection")
		time.Sleep(5 * time.Millisecond) // nothing tells when the connection is taken
	}
	_, err := cl.RPush(ctx, key+"-list", "x")
	require.NoError(t, err)
	require.NoError(t, testwait.Recv(t, popped, "BLPOP never returned"))
	s := n.Stats()
	assert.Zero(t, s.BlockingInUse)
	assert.Equal(t, 1, s.BlockingIdle)

	_, err = m.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	require.NoError(t, err)
	var lost, back bool
	for !lost || !back {
		e := testwait.Recv(t, ready, "the shared connection was not lost and made again")
		if e.Addr == m.Addr() {
			lost = lost || e.Type == EventNodeDisconnect
			back = lost && e.Type == EventNodeReady
		}
	}
	s = n.Stats()
	assert.Equal(t, before.Disconnects+1, s.Disconnects)
	assert.Equal(t, before.Connects+1, s.Connects)
	assert.True(t, s.Connected)
}
