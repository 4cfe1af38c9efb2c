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
	"github.com/actoredis/actoredis/internal/testproxy"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// hostile is a 3-master cluster whose third master, the victim, the client reaches through a proxy
// that can rewrite what the server says; events gets the client's node-disconnect events for the
// victim, and link follows its connection.
type hostile struct {
	tc     *testcluster.Cluster
	victim *testcluster.Node
	px     *testproxy.Proxy
	cl     *api.Cluster
	events chan api.Event
	link   *linkWatch
}

func hostileSetup(t *testing.T) hostile {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	victim := tc.Masters()[2]
	px := testproxy.New(t, victim.Addr())
	opts := api.ClusterOptions{
		CommandTimeout: time.Second, ConnectTimeout: time.Second,
		NodeAddressMap: map[string]string{victim.Addr(): px.Addr()},
		RootNodes:      []api.NodeOptions{{URL: "redis://" + tc.Masters()[0].Addr()}},
	}
	cl, err := api.CreateCluster(opts)
	require.NoError(t, err)
	events := make(chan api.Event, 256)
	cl.OnEvent(func(e api.Event) {
		if e.Addr == px.Addr() && e.Type == api.EventNodeDisconnect {
			select {
			case events <- e:
			default:
			}
		}
	})
	link := watchLink(cl, px.Addr())
	require.NoError(t, cl.Connect(t.Context()))
	t.Cleanup(func() { _ = cl.Close() })
	return hostile{tc: tc, victim: victim, px: px, cl: cl, events: events, link: link}
}

// victimKey returns a key of the victim's slots, set to "v".
func (h hostile) victimKey(t *testing.T, prefix string) string {
	for i := 0; ; i++ {
		key := prefix + strconv.Itoa(i)
		if h.tc.MasterFor(api.GetSlot(key)) == h.victim {
			require.NoError(t, h.cl.Set(context.Background(), key, "v"))
			return key
		}
	}
}

// TestHostileServer: a node in the topology answers garbage, a 10 GB length header, 10k-deep
// nesting: the commands on that connection fail with typed protocol errors, the node reconnects,
// nothing panics, memory stays bounded, and the load on the other nodes is untouched.
func TestHostileServer(t *testing.T) {
	h := hostileSetup(t)
	px, cl := h.px, h.cl
	l := startLoad(t, cl, 64)
	waitOps(t, l, 2000)
	h.link.awaitUp(t, 0, 10*time.Second) // the first injection must find a command connection too
	var heapPeak atomic.Uint64
	for _, fault := range []struct {
		name, reply string
		want        error
	}{
		{"garbage", "?garbage\r\n", resp.ErrProtocol},
		{"10 GB bulk header", "$10000000000\r\n", resp.ErrBulkTooLong},
		{"10k-deep nesting", strings.Repeat("*1\r\n", 10_000) + ":1\r\n", resp.ErrTooDeep},
	} {
		downs := h.link.disconnects()
		px.InjectOnce(fault.reply)
		t.Logf("injecting %s", fault.name)
		e := nextEvent(t, h.events, px)
		assert.ErrorIs(t, e.Err, fault.want, "%s: the node says why it dropped the connection", fault.name)
		// The other masters' commands flow meanwhile: the next fault waits for this node's new
		// connection to finish its handshake, or it would replace the reply to HELLO, a failed
		// dial (node-error), not a dropped connection.
		h.link.awaitUp(t, downs+1, 10*time.Second)
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
	h := hostileSetup(t)
	px, cl := h.px, h.cl
	ctx := context.Background()
	key := h.victimKey(t, "hostile:")

	px.Send("+SURPRISE\r\n") // nothing is in flight on that connection
	e := nextEvent(t, h.events, px)
	assert.ErrorIs(t, e.Err, node.ErrUnsolicitedReply)
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "v", v)

	px.InjectOnce("-MOVED " + strconv.Itoa(api.GetSlot(key)) + " 127.0.0.1:1\r\n")
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
		return n != nil && n.Addr() == px.Addr()
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

// nextEvent returns the next node-disconnect event, failing the test when none comes within 10 s.
func nextEvent(t *testing.T, events chan api.Event, px *testproxy.Proxy) api.Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("no node-disconnect event within 10 s (proxy: %s)", px.Describe())
		return api.Event{}
	}
}

// TestTransientClusterErrorsAreRetried: a command that meets CLUSTERDOWN, LOADING, MASTERDOWN,
// TRYAGAIN or UNBLOCKED (each in place of its reply, the server having run it) is sent again, and
// the caller gets the reply of the second run: none of these reach the caller while time is left.
func TestTransientClusterErrorsAreRetried(t *testing.T) {
	h := hostileSetup(t)
	victim, px, cl := h.victim, h.px, h.cl
	ctx := context.Background()
	key := h.victimKey(t, "transient:")
	for _, reply := range []string{
		"-CLUSTERDOWN The cluster is down",
		"-LOADING Redis is loading the dataset in memory",
		"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
		"-TRYAGAIN Multiple keys request during rehashing of slot",
		"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
	} {
		before, err := victim.InfoCount(ctx, "commandstats", "cmdstat_get", "calls")
		require.NoError(t, err)
		px.InjectOnce(reply + "\r\n")
		v, err := cl.Get(ctx, key)
		require.NoError(t, err, "after %s", reply)
		assert.Equal(t, "v", v)
		after, err := victim.InfoCount(ctx, "commandstats", "cmdstat_get", "calls")
		require.NoError(t, err)
		assert.Equal(t, before+2, after, "%s: the GET ran twice", reply)
	}
}

// The proxy injects into command connections only: a topology query, as the slot map's refreshes
// send to any node, gets its replies untouched, in its handshake too, and the next command takes
// the injection.
func TestProxyInjectsIntoCommandConnectionsOnly(t *testing.T) {
	h := hostileSetup(t)
	key := h.victimKey(t, "injected:")
	h.px.InjectOnce("-MOVED " + strconv.Itoa(api.GetSlot(key)) + " 127.0.0.1:1\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := node.Query(ctx, node.Options{Addr: h.px.Addr()}, "CLUSTER", "SHARDS")
	require.NoError(t, err)
	assert.Positive(t, v.Len(), "the topology")
	assert.Contains(t, h.px.Describe(), "injection pending: true")
	_, err = h.cl.Get(ctx, key) // MOVED to a node that is not there: followed, and healed
	require.NoError(t, err)
	assert.Contains(t, h.px.Describe(), "injection pending: false")
}
