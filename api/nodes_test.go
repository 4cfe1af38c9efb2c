package api

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A blocking command sent to a node that cannot answer (stopped: its connection dials, and its
// handshake waits) fails at CommandTimeout with an error matching ErrTimeout that keeps the
// dial's cause, not written. (The socket's deadline, set to the same instant, often spoke first:
// the error matched only ErrConnection; when the ctx spoke first, the cause was dropped.)
func TestBlockingCommandOnAStoppedNodeTimesOut(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 500 * time.Millisecond, TopologyRefreshInterval: -1})
	key := "{stopped}q"
	n := cl.NodeForKey(key)
	pid := tc.MasterFor(GetSlot(key)).PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	for range 3 {
		_, err := n.Do(context.Background(), Cmd("BLPOP", key, 1))
		require.ErrorIs(t, err, ErrTimeout)
		assert.False(t, WasWritten(err), "%v", err)
		assert.Contains(t, err.Error(), "HELLO", "the dial's cause")
		assert.Contains(t, err.Error(), n.Addr())
	}
}
