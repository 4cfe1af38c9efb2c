package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testlog"
	"github.com/actoredis/actoredis/internal/testproxy"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// A one-node "cluster" that describes itself (CLUSTER SLOTS, RESP2) and never answers COMMAND:
// Connect learns the command table within ConnectTimeout or goes on with the built-in one, rather
// than waiting for the server forever.
func TestConnectDoesNotWaitForeverOnCOMMAND(t *testing.T) {
	commandAsked := make(chan struct{}, 1)
	var srv *fakeredis.Server
	srv = fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			switch strings.ToUpper(strings.Join(cmd, " ")) {
			case "CLUSTER SHARDS":
				err = c.Write("-ERR unknown subcommand 'SHARDS'\r\n")
			case "CLUSTER SLOTS":
				host, port, _ := net.SplitHostPort(srv.Addr())
				err = c.Write(fmt.Sprintf("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$%d\r\n%s\r\n:%s\r\n", len(host), host, port))
			case "COMMAND": // never answered
				select {
				case commandAsked <- struct{}{}:
				default:
				}
			default:
				err = c.Write("+PONG\r\n")
			}
			if err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	})
	cl, err := CreateCluster(ClusterOptions{
		RootNodes:      []NodeOptions{{URL: "redis://" + srv.Addr()}},
		ConnectTimeout: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	connected := make(chan error, 1)
	go func() { connected <- cl.Connect(context.Background()) }()
	// After a failure here the server's cleanup ends the wait.
	require.NoError(t, testwait.Recv(t, connected, "Connect still waits for COMMAND"))
	require.NoError(t, cl.Close())
	select { // the first client's COMMAND
	case <-commandAsked:
	default:
	}

	// A context that ends while COMMAND waits ends Connect, with the context's error, once the
	// events it caused (the node's connect and ready) have reached the handlers: none of them runs
	// after Connect has returned.
	cl, err = CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + srv.Addr()}}, ConnectTimeout: time.Minute})
	require.NoError(t, err)
	var seen atomic.Int32
	handling := make(chan struct{}, 1)
	cl.OnEvent(func(Event) {
		select {
		case handling <- struct{}{}:
		default:
		}
		time.Sleep(100 * time.Millisecond) // a slow handler
		seen.Add(1)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { connected <- cl.Connect(ctx) }()
	<-commandAsked // the topology is known and COMMAND waits
	<-handling     // a handler is busy with an event
	cancel()
	require.ErrorIs(t, testwait.Recv(t, connected, "Connect outlived its context"), context.Canceled)
	require.Positive(t, seen.Load(), "the node's events were delivered before Connect returned")
	_, err = cl.Do(context.Background(), Cmd("GET", "k"))
	require.ErrorIs(t, err, ErrClientClosed, "a failed Connect leaves the client closed")
}

// Credentials the roots refuse fail Connect with an error that lists each root and matches the
// server's reply: errors.Is(err, ErrWrongPass). A user denied CLUSTER SHARDS (NOPERM) but allowed
// CLUSTER SLOTS discovers the cluster through SLOTS.
func TestConnectWithACLs(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas, Password: "default-pw",
		Users: []testcluster.User{
			{Name: "noshards", Password: "pw", Rules: []string{"on", "~*", "&*", "+@all", "-cluster|shards"}},
			{Name: "noreadonly", Password: "pw", Rules: []string{"on", "~*", "&*", "+@all", "-readonly"}},
		}})
	ctx := context.Background()
	root := []NodeOptions{{URL: "redis://" + tc.Masters()[0].Addr()}}

	wrong, err := CreateCluster(ClusterOptions{RootNodes: root, Defaults: NodeOptions{Password: "wrong"}})
	require.NoError(t, err)
	err = wrong.Connect(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrRootNodesUnavailable)
	assert.ErrorIs(t, err, ErrWrongPass)
	assert.Contains(t, err.Error(), tc.Masters()[0].Addr())

	cl, err := CreateCluster(ClusterOptions{RootNodes: root, Defaults: NodeOptions{Username: "noshards", Password: "pw"}})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(ctx), "discovery through CLUSTER SLOTS")
	t.Cleanup(func() { _ = cl.Close() })
	assert.Len(t, cl.Masters(), 3)
	require.NoError(t, cl.Set(ctx, "acl-key", "v"))
	v, err := cl.Get(ctx, "acl-key")
	require.NoError(t, err)
	assert.Equal(t, "v", v)

	// Denied READONLY, a client with UseReplicas could reach no node: Connect says so at once.
	denied, err := CreateCluster(ClusterOptions{RootNodes: root, UseReplicas: true,
		Defaults: NodeOptions{Username: "noreadonly", Password: "pw"}})
	require.NoError(t, err)
	err = denied.Connect(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrReadOnlyRefused)
	assert.ErrorIs(t, err, ErrNoPerm)
	assert.Contains(t, err.Error(), "UseReplicas")
	assert.NotContains(t, err.Error(), "pw")
	_, err = denied.Send(Cmd("GET", "k")).Await()
	assert.ErrorIs(t, err, ErrClientClosed, "a failed Connect leaves the client closed")

	// Without UseReplicas the same user needs no READONLY.
	plain, err := CreateCluster(ClusterOptions{RootNodes: root, Defaults: NodeOptions{Username: "noreadonly", Password: "pw"}})
	require.NoError(t, err)
	require.NoError(t, plain.Connect(ctx))
	t.Cleanup(func() { _ = plain.Close() })
	v, err = plain.Get(ctx, "acl-key")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

// A replica the client cannot reach, which the cluster still lists, makes the map look again
// less and less often: 200 ms, then twice as long after each look that finds nothing new, up to
// 5 s. (It looked every 200 ms for good: a connection and a CLUSTER SHARDS each time.)
func TestUnreachableReplicaIsLookedForLessAndLessOften(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	lost := tc.Replicas()[0]
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1,
		NodeAddressMap: map[string]string{lost.Addr(): "127.0.0.1:1"}}) // nothing listens there
	start := cl.run.Load().smap.Refreshes()
	time.Sleep(4 * time.Second) // the scenario: a replica down for this long, not a synchronisation
	looks := cl.run.Load().smap.Refreshes() - start
	t.Logf("%d discoveries in 4 s with a replica unreachable", looks)
	// 1 s before the first (UnreachableAfter), then 0.2, 0.4, 0.8, 1.6 s apart: 4 or 5. Every
	// 200 ms, it was 15 or more.
	assert.LessOrEqual(t, looks, uint64(8))
	assert.GreaterOrEqual(t, looks, uint64(2), "it still looks")
}

// A master whose first connection fails (a restart, a proxy) but whose next one succeeds is
// waited for, within ConnectTimeout: Connect does not fail on one failed dial per master. (It
// failed after 55 ms, where the node's reconnect came a moment later.)
func TestConnectWaitsOutAFailedFirstDial(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	m := tc.Masters()[0]
	proxy := testproxy.NewWith(t, m.Addr(), testproxy.Options{Refuse: 1}).Addr()
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + m.Addr()}},
		NodeAddressMap: map[string]string{m.Addr(): proxy}})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()), "the master answers a moment later")
	t.Cleanup(func() { _ = cl.Close() })
	require.NoError(t, cl.Set(context.Background(), "after-a-failed-dial", "v"))
}

// A user denied READONLY fails Connect with UseReplicas with ErrReadOnlyRefused every time: a
// master's connection is READWRITE from its handshake on. (When Connect began to wait for a
// master's connection, the masters' first handshakes still sent READONLY, and 11 of 40 Connects
// failed with ErrConnection instead, a review found.)
func TestReadOnlyRefusedAlwaysComesOut(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas,
		Users: []testcluster.User{{Name: "noreadonly", Password: "pw", Rules: []string{"on", "~*", "&*", "+@all", "-readonly"}}}})
	root := []NodeOptions{{URL: "redis://" + tc.Masters()[0].Addr()}}
	for i := range 40 {
		cl, err := CreateCluster(ClusterOptions{RootNodes: root, UseReplicas: true,
			Defaults: NodeOptions{Username: "noreadonly", Password: "pw"}})
		require.NoError(t, err)
		require.ErrorIs(t, cl.Connect(context.Background()), ErrReadOnlyRefused, "Connect %d", i)
	}
}

// Connect stops waiting for a master at once only on errors a new dial would meet again.
func TestLastingConnectErrors(t *testing.T) {
	named := func(err error) error { return fmt.Errorf("actoredis: node h:1: connect: %w", err) }
	for _, c := range []struct {
		err  error
		want bool
	}{
		{named(&net.DNSError{Err: "no such host", Name: "n0.invalid", IsNotFound: true}), true},
		{named(resp.ParseError("WRONGPASS invalid username-password pair")), true},
		{named(fmt.Errorf("AUTH: %w", resp.ParseError("NOAUTH Authentication required."))), true},
		{named(fmt.Errorf("%w: %w", ErrReadOnlyRefused, resp.ParseError("NOPERM this user has no permissions"))), true},
		{named(resp.ParseError("LOADING Redis is loading the dataset in memory")), false},
		{named(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), false},
		{named(&net.DNSError{Err: "server misbehaving", Name: "h", IsTemporary: true}), false},
	} {
		assert.Equal(t, c.want, lastingConnectError(c.err), "%v", c.err)
	}
}

// A Connect whose ctx ends before ConnectTimeout, while no master could be reached, says what the
// masters said, with the ctx's error. (It said only "context deadline exceeded".)
func TestConnectCutShortSaysWhatTheMastersSaid(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	m := tc.Masters()[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + m.Addr()}},
		NodeAddressMap: map[string]string{m.Addr(): closed}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond) // < ConnectTimeout
	defer cancel()
	err = cl.Connect(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrConnection)
	assert.Contains(t, err.Error(), "refused")
}

// Connect waits for a master serving slots, not for any master: one serving none runs no keyed
// command. Here the only master serving slots is down, and the root, a master serving none,
// answers: Connect fails, naming the master it could not reach. (It succeeded as soon as the
// master serving none had a connection.)
func TestConnectWaitsForAMasterServingSlots(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	master, empty := tc.Nodes()[0], tc.Nodes()[1]
	require.NoError(t, tc.Kill(master))
	cl, err := CreateCluster(ClusterOptions{
		RootNodes:      []NodeOptions{{URL: "redis://" + empty.Addr()}},
		ConnectTimeout: time.Second,
	})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cl.Connect(ctx)
	require.ErrorIs(t, err, ErrConnection, "the master serving the slots is down")
	assert.ErrorContains(t, err, master.Addr())
}

// Connect asks for COMMAND a master it has reached, not the first of the map: with that one
// stopped (it accepts connections and answers nothing), the command table was lost (a warning,
// routing by the built-in table) after ConnectTimeout.
func TestConnectAsksCOMMANDOfAMasterItReached(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	stopped, live := tc.MasterFor(0), tc.MasterFor(16383)
	logs := &testlog.Buffer{}
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + live.Addr()}},
		ConnectTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	defer cl.Close()
	require.Equal(t, stopped.Addr(), func() string { // the map's first master, before the stop
		probe := connect(t, tc, ClusterOptions{})
		return probe.Masters()[0].Addr()
	}())
	before := callsOf(t, live, "command")
	require.NoError(t, syscall.Kill(stopped.PID(), syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(stopped.PID(), syscall.SIGCONT) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Connect(ctx))
	assert.NotContains(t, logs.String(), "COMMAND failed")
	assert.Greater(t, callsOf(t, live, "command"), before, "COMMAND asked of the master reached")
}

// Limits bound the replies to the caller's commands, not the client's own queries: with limits
// that CLUSTER SHARDS (nested 5 deep) and COMMAND (240 commands) pass, Connect learns the topology
// and the command table (TestReplyPastTheLimitsIsNotRetried checks a command's). (Connect failed at
// MaxDepth 3; at MaxDepth 4 or MaxAggregateLen 100 it lost the command table with a warning.)
func TestLimitsBoundCommandsNotTheClientsQueries(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, l := range []resp.Limits{{MaxDepth: 3}, {MaxDepth: 4}, {MaxAggregateLen: 100}} {
		logs := &testlog.Buffer{}
		cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}, Limits: l,
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
		require.NoError(t, err)
		require.NoError(t, cl.Connect(ctx), "%+v", l)
		assert.NotContains(t, logs.String(), "COMMAND failed", "%+v", l)
		assert.Len(t, cl.Masters(), 1)
		require.NoError(t, cl.Close())
	}
}

// Connect with a ctx ended already fails with ctx's error and dials nothing, and leaves the
// Cluster closed, as a failed Connect does. (It dialled the root before noticing.)
func TestConnectWithAnEndedCtxDialsNothing(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + srv.Addr()}}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, cl.Connect(ctx), context.Canceled)
	assert.Zero(t, srv.Accepts(), "the root was dialled")
	_, err = cl.Get(context.Background(), "k")
	assert.ErrorIs(t, err, ErrClientClosed)
	require.NoError(t, cl.Close())
}

// A Connect whose ctx ends during discovery says so, naming the roots, and matches ctx's error.
// (It returned ctx's error alone.)
func TestConnectCutShortInDiscoveryNamesTheRoots(t *testing.T) {
	hung := fakeredis.New(t, func(c *fakeredis.Conn) { // reads everything, answers nothing
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + hung.Addr()}}, ConnectTimeout: time.Minute})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = cl.Connect(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "discovering the cluster from "+hung.Addr())
	require.NoError(t, cl.Close())
}

// Connect's record of how each node's connection went ends with Connect: the node events go on for
// the client's life, and every address ever dialled, each failure's error with it, was kept for as
// long (about 0.4 KB per address, a review measured over 1000 addresses).
func TestContactsRecordNothingOnceStopped(t *testing.T) {
	k := newContacts()
	k.note(node.Event{Type: node.EventReady, Addr: "127.0.0.1:7000"})
	k.note(node.Event{Type: node.EventError, Addr: "127.0.0.1:7001", Err: errors.New("refused")})
	assert.Len(t, k.by, 2)
	k.stop()
	for i := range 100 {
		k.note(node.Event{Type: node.EventError, Addr: fmt.Sprintf("127.0.0.1:%d", 8000+i), Err: errors.New("refused")})
	}
	assert.Empty(t, k.by)
}
