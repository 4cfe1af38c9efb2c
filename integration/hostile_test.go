package integration

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// hostileSetup: a 3-master cluster whose third master the client reaches through a proxy that can
// rewrite what the server says.
func hostileSetup(t *testing.T) (*testcluster.Cluster, *testcluster.Node, *proxy, *api.Cluster, chan api.Event) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	victim := tc.Masters()[2]
	px := newProxy(t, victim.Addr())
	opts := api.ClusterOptions{
		CommandTimeout: time.Second, ConnectTimeout: time.Second,
		NodeAddressMap: map[string]string{victim.Addr(): px.addr()},
		RootNodes:      []api.NodeOptions{{URL: "redis://" + tc.Masters()[0].Addr()}},
	}
	cl, err := api.CreateCluster(opts)
	require.NoError(t, err)
	events := make(chan api.Event, 256)
	cl.OnEvent(func(e api.Event) {
		if e.Addr == px.addr() && e.Type == api.EventNodeDisconnect {
			select {
			case events <- e:
			default:
			}
		}
	})
	require.NoError(t, cl.Connect(t.Context()))
	t.Cleanup(func() { _ = cl.Close() })
	return tc, victim, px, cl, events
}

// TestHostileServer: a node in the topology answers garbage, a 10 GB length header, 10k-deep
// nesting: the commands on that connection fail with typed protocol errors, the node reconnects,
// nothing panics, memory stays bounded, and the load on the other nodes is untouched.
func TestHostileServer(t *testing.T) {
	_, _, px, cl, events := hostileSetup(t)
	readies := make(chan api.Event, 16)
	cl.OnEvent(func(e api.Event) {
		if e.Addr == px.addr() && e.Type == api.EventNodeReady {
			select {
			case readies <- e:
			default:
			}
		}
	})
	l := startLoad(t, cl, 64)
	waitOps(t, l, 2000)
	var heapPeak atomic.Uint64
	for _, fault := range []struct {
		name, reply string
		want        error
	}{
		{"garbage", "?garbage\r\n", resp.ErrProtocol},
		{"10 GB bulk header", "$10000000000\r\n", resp.ErrBulkTooLong},
		{"10k-deep nesting", strings.Repeat("*1\r\n", 10_000) + ":1\r\n", resp.ErrTooDeep},
	} {
		px.injectOnce(fault.reply)
		t.Logf("injecting %s", fault.name)
		e := nextEvent(t, events, "node-disconnect", px)
		assert.ErrorIs(t, e.Err, fault.want, "%s: the node says why it dropped the connection", fault.name)
		// The other masters' commands flow meanwhile: the next fault waits for this node's new
		// connection to finish its handshake, or it would replace the reply to HELLO, a failed
		// dial (node-error), not a dropped connection.
		nextEvent(t, readies, "node-ready", px)
		waitOps(t, l, 3000) // and traffic flows again
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapPeak.Store(max(heapPeak.Load(), ms.HeapAlloc))
	}
	l.halt()
	r := l.report()
	l.verify(t, &r)
	t.Logf("hostile replies: %s; heap after each fault at most %d MiB", r, heapPeak.Load()>>20)
	assert.Less(t, heapPeak.Load(), uint64(256<<20), "memory bounded")
	assert.Zero(t, r.lost)
	assert.Zero(t, r.wrong)
	for kind := range r.errs {
		assert.Contains(t, kind, "connection lost", "only the commands on the broken connection fail")
	}
}

// TestUnsolicitedReplyAndBogusMoved: an idle connection receives a reply for no command (dropped
// and re-dialed), and a MOVED names an address outside the topology (followed, fails fast there,
// and the map heals from the real cluster).
func TestUnsolicitedReplyAndBogusMoved(t *testing.T) {
	tc, victim, px, cl, events := hostileSetup(t)
	ctx := context.Background()
	var key string
	for i := 0; ; i++ {
		key = "hostile:" + strconv.Itoa(i)
		if tc.MasterFor(api.GetSlot(key)) == victim {
			break
		}
	}
	require.NoError(t, cl.Set(ctx, key, "v"))

	px.send("+SURPRISE\r\n") // nothing is in flight on that connection
	e := nextEvent(t, events, "node-disconnect", px)
	assert.ErrorIs(t, e.Err, node.ErrUnsolicitedReply)
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "v", v)

	px.injectOnce("-MOVED " + strconv.Itoa(api.GetSlot(key)) + " 127.0.0.1:1\r\n")
	start := time.Now()
	got, err := cl.Send(api.Cmd("GET", key)).Await()
	took := time.Since(start)
	t.Logf("GET after a MOVED to 127.0.0.1:1: %q, %v, in %s", got.String(), err, took.Round(time.Millisecond))
	if err != nil {
		var ce *node.ConnError
		assert.True(t, errors.As(err, &ce) || errors.Is(err, api.ErrTimeout), "a typed error: %v", err)
	} else {
		assert.Equal(t, "v", got.String())
	}
	assert.Less(t, took, 2*time.Second, "within the command's deadline")
	// The map heals: the slot is the victim's again, and the bogus node leaves the map.
	require.Eventually(t, func() bool {
		n := cl.NodeForKey(key)
		return n != nil && n.Addr() == px.addr()
	}, 5*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		for _, n := range cl.Nodes() {
			if n.Addr() == "127.0.0.1:1" {
				return false
			}
		}
		return true
	}, 5*time.Second, 20*time.Millisecond)
	v, err = cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

// nextEvent returns the next event of events (what says which), failing the test when none comes
// within 10 s.
func nextEvent(t *testing.T, events chan api.Event, what string, px *proxy) api.Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s event within 10 s (proxy: %s)", what, px.describe())
		return api.Event{}
	}
}
