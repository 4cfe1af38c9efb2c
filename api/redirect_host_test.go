package api

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// dialLog is a Dialer that records every address dialled and refuses those not on 127.0.0.1.
type dialLog struct {
	mu  sync.Mutex
	all []string
	bad []string
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.all = append(d.all, addr)
	ok := strings.HasPrefix(addr, "127.0.0.1:")
	if !ok {
		d.bad = append(d.bad, addr)
	}
	d.mu.Unlock()
	if !ok {
		return nil, errors.New("test dialer: not 127.0.0.1")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialLog) refused() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.bad...)
}

// nodeAddrs lists the addresses of cl's nodes.
func nodeAddrs(cl *Cluster) []string {
	var out []string
	for _, n := range cl.Nodes() {
		out = append(out, n.Addr())
	}
	return out
}

// A MOVED to a master that announces no endpoint ("?:port", the cluster preferring hostnames and
// the master having none), met by a shard subscription's SSUBSCRIBE or a Watch's WATCH, is no
// address: the map looks again rather than name a node "?:port" and dial it. (A review saw five
// dials of "?:port" for each, and, with the default dialer, a DNS lookup of "?".)
func TestMovedToANodeWithoutEndpointIsNotDialled(t *testing.T) {
	for _, via := range []string{"SSubscribe", "Watch"} {
		t.Run(via, func(t *testing.T) {
			tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas,
				AnnounceHostname: func(i int) string { return map[int]string{0: "n0.invalid"}[i] }})
			n0, n1 := tc.Nodes()[0], tc.Nodes()[1]
			var dials dialLog
			cl := connect(t, tc, ClusterOptions{CommandTimeout: 500 * time.Millisecond, TopologyRefreshInterval: -1,
				NodeAddressMap: map[string]string{"n0.invalid:" + strconv.Itoa(n0.Port()): n0.Addr()},
				Dialer:         dials.dial})
			ctx := context.Background()
			const slot = 1
			key := keyInSlot("noendpoint", slot)
			require.Equal(t, n0, tc.MasterFor(slot))
			require.NoError(t, tc.MigrateSlot(ctx, slot, n1)) // the client's map still has it on n0
			switch via {
			case "SSubscribe":
				sctx, cancel := context.WithTimeout(ctx, time.Second)
				sub, err := cl.SSubscribe(sctx, key)
				cancel()
				if err == nil {
					_ = sub.Close()
				}
			case "Watch":
				_ = cl.Watch(ctx, func(*WatchTx) error { return nil }, key)
			}
			_, err := cl.Get(ctx, key)
			assert.ErrorContains(t, err, "announces no endpoint", "the map learnt where the slot is")
			assert.Empty(t, dials.refused(), "dials of an address other than 127.0.0.1")
			for _, a := range nodeAddrs(cl) {
				assert.False(t, strings.HasPrefix(a, "?"), "a node named %s", a)
			}
		})
	}
}

// With cluster-preferred-endpoint-type unknown-endpoint a MOVED names ":port" (the host the
// client reached the node by). A shard subscription's MOVED is completed with its connection's
// host, as a command's is: the map is told "localhost:port", and no node is named or dialled
// ":port". (The subscription's MOVED went to the map as it came: every node then took the name
// ":port" for good, and ":port" was dialled, the local machine and not the node.)
func TestShardSubscriptionMovedToPortOnly(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas,
		ExtraConfig: []string{"cluster-preferred-endpoint-type unknown-endpoint"}})
	n0, n1 := tc.Nodes()[0], tc.Nodes()[1]
	byName := func(n *testcluster.Node) string { return "localhost:" + strconv.Itoa(n.Port()) }
	var dials dialLog
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1,
		RootNodes: []NodeOptions{{URL: "redis://" + byName(n0)}},
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasPrefix(addr, "localhost:") {
				addr = "127.0.0.1:" + strings.TrimPrefix(addr, "localhost:")
			}
			return dials.dial(ctx, network, addr)
		}})
	ctx := context.Background()
	const slot = 1
	ch := keyInSlot("ssub-port", slot)
	require.Equal(t, n0, tc.MasterFor(slot))
	require.Equal(t, byName(n0), cl.NodeForKey(ch).Addr())
	require.NoError(t, tc.MigrateSlot(ctx, slot, n1)) // the SSUBSCRIBE goes to n0: MOVED 1 :<n1's port>
	sub, err := cl.SSubscribe(ctx, ch)
	require.NoError(t, err)
	defer sub.Close()
	for i, heard := 0, false; !heard; i++ {
		require.Less(t, i, 100, "nothing heard in 10 s")
		_, err := n1.Do(ctx, "SPUBLISH", ch, "m") // to the server itself
		require.NoError(t, err)
		select {
		case m := <-sub.Messages():
			require.Equal(t, ch, m.Channel)
			heard = true
		case <-time.After(100 * time.Millisecond): // not subscribed there yet: publish again
		}
	}
	assert.Empty(t, dials.refused(), "an address with no host dialled")
	assert.ElementsMatch(t, []string{byName(n0), byName(n1)}, nodeAddrs(cl), "no second name for a server")
}
