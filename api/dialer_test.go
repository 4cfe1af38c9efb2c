package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// Every connection the client opens goes through ClusterOptions.Dialer: the shared ones, the
// topology queries, a blocking command's own, a subscription's. Each of the client's connections
// that the servers list (CLIENT LIST, by its name) was opened by the Dialer, to the node's address.
func TestDialerOpensEveryConnection(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	var mu sync.Mutex
	opened := map[string]string{} // the connections' local addresses → the address dialled
	cl := connect(t, tc, ClusterOptions{ClientName: "dialled", Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err == nil {
			mu.Lock()
			opened[nc.LocalAddr().String()] = addr
			mu.Unlock()
		}
		return nc, err
	}})
	ctx := context.Background()
	for _, m := range tc.Masters() {
		k := tagOn(tc, m, "dialled")
		require.NoError(t, cl.Set(ctx, k, "v"))
		_, err := cl.Do(ctx, Cmd("BLPOP", k+"-list", "0.01"))
		require.NoError(t, err)
	}
	sub, err := cl.Subscribe(ctx, "dialled")
	require.NoError(t, err)
	defer sub.Close()

	listed := 0
	clientAddr := regexp.MustCompile(`(?m)^id=\d+ addr=(\S+) .*\bname=dialled\b`)
	for _, n := range tc.Nodes() {
		v, err := n.Do(ctx, "CLIENT", "LIST")
		require.NoError(t, err)
		for _, m := range clientAddr.FindAllStringSubmatch(fmt.Sprint(v), -1) {
			listed++
			mu.Lock()
			dialled, ok := opened[m[1]]
			mu.Unlock()
			if assert.True(t, ok, "%s's client %s was not opened by the Dialer", n.Addr(), m[1]) {
				assert.Equal(t, n.Addr(), dialled)
			}
		}
	}
	assert.GreaterOrEqual(t, listed, 2*len(tc.Masters())+1, "shared and blocking connections, and the subscription's")
}

// A Dialer's error fails the dial, found by errors.Is and named with the node; a panic in it fails
// the dial too, and the process goes on.
func TestDialerFailures(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	root := tc.Addrs()[0]
	refused := errors.New("refused by policy")
	for name, dialer := range map[string]func(context.Context, string, string) (net.Conn, error){
		"error": func(context.Context, string, string) (net.Conn, error) { return nil, refused },
		"panic": func(context.Context, string, string) (net.Conn, error) { panic("dialer bug") },
		"nil":   func(context.Context, string, string) (net.Conn, error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + root}},
				Dialer: dialer, ConnectTimeout: time.Second})
			require.NoError(t, err)
			err = cl.Connect(context.Background())
			require.ErrorIs(t, err, ErrRootNodesUnavailable)
			assert.ErrorContains(t, err, root)
			switch name {
			case "error":
				assert.ErrorIs(t, err, refused)
			case "panic":
				assert.ErrorContains(t, err, "the Dialer panicked: dialer bug")
			case "nil":
				assert.ErrorContains(t, err, "the Dialer returned no connection and no error")
			}
			require.NoError(t, cl.Close())
		})
	}
}
