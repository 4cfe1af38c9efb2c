package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// Over TLS 1.3 the servers send session tickets after the handshake. With RESP2 and nothing to
// authenticate, the handshake read nothing and left them on the socket: the check of a parked
// connection saw bytes waiting, read no reply within its wait, and dropped the connection as one
// holding a reply never asked for (9 disconnects in 20 commands, before the fix).
func TestTLSWithRESP2KeepsItsConnections(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{TLS: true, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{RESP: 2, Defaults: NodeOptions{TLS: tc.TLSConfig()},
		RootNodes: []NodeOptions{{URL: "rediss://" + tc.Addrs()[0]}}})
	disconnects := make(chan Event, 100)
	cl.OnEvent(func(e Event) {
		if e.Type == EventNodeDisconnect {
			disconnects <- e
		}
	})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		require.NoError(t, cl.Set(ctx, "tls-key", i))
		// Idle between commands: the nodes' clocks check the parked connections, and so does the
		// next command.
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, cl.Close()) // every event delivered: Close waits for the handlers
	close(disconnects)
	for e := range disconnects {
		assert.Fail(t, "a connection was dropped", "%s: %v", e.Addr, e.Err)
	}
}

// A TLS setting that does not match the server's says it may be the cause: TLS to a server that
// does not speak it (which waits for a line that never comes) asks whether it is busy or does not
// speak TLS there; plain to a server that speaks TLS only (which closes the connection) asks
// whether it is restarting or expects TLS. (They said only
// "TLS handshake: context deadline exceeded" and "connection reset by peer".)
func TestTLSMismatchSaysSo(t *testing.T) {
	plain := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	secure := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		root NodeOptions
		hint string
	}{
		{NodeOptions{URL: "rediss://" + plain.Addrs()[0], TLS: secure.TLSConfig()}, "not speaking TLS on this port?"},
		{NodeOptions{URL: "redis://" + secure.Addrs()[0]}, "expecting TLS?"},
	} {
		cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{c.root}, ConnectTimeout: 500 * time.Millisecond})
		require.NoError(t, err)
		err = cl.Connect(ctx)
		require.ErrorIs(t, err, ErrRootNodesUnavailable, c.root.URL)
		assert.ErrorContains(t, err, c.hint)
		require.NoError(t, cl.Close())
	}
}
