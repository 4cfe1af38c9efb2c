package api

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
)

// Right after a failover, graceful ones included, the cluster lists the demoted master for a
// moment as a master serving no slot, and Masters with it. Library.Load sent FUNCTION LOAD there
// and failed with its READONLY (a review: 50 ms after a CLUSTER FAILOVER). A master that refuses
// it so is passed over once the map no longer lists it among the masters, and a master the map
// lists then that Load had not loaded (the promoted replica, when the map had not yet shown the
// failover) is loaded too: a review found Load successful with the new master left on the old
// library. One the map keeps listing fails Load with the READONLY, naming it, after
// CommandTimeout.
func TestLoadPassesOverADemotedMaster(t *testing.T) {
	for _, mode := range []string{"slotless", "promoted", "kept"} {
		t.Run(mode, func(t *testing.T) {
			var refused atomic.Bool
			var loadsA, loadsB atomic.Int32
			var a, b *fakeredis.Server
			all := [][2]int{{0, 16383}}
			shards := func() string {
				switch {
				case mode == "promoted" && refused.Load():
					return fakeredis.ShardsReply(fakeredis.Shard{Addr: b.Addr(), Ranges: all})
				case mode == "promoted":
					return fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: all})
				case mode == "slotless" && refused.Load():
					return fakeredis.ShardsReply(fakeredis.Shard{Addr: b.Addr(), Ranges: all})
				}
				return fakeredis.ShardsReply(fakeredis.Shard{Addr: b.Addr(), Ranges: all}, fakeredis.Shard{Addr: a.Addr()})
			}
			serve := func(load func() string) func(*fakeredis.Conn) {
				return func(c *fakeredis.Conn) {
					cmd, err := c.Handshake()
					for ; err == nil; cmd, err = c.ReadCommand() {
						switch strings.ToUpper(strings.Join(cmd[:min(len(cmd), 2)], " ")) {
						case "CLUSTER SHARDS":
							err = c.Write(shards())
						case "FUNCTION LOAD":
							err = c.Write(load())
						default:
							err = c.Write("-ERR unknown command\r\n")
						}
					}
				}
			}
			a = fakeredis.New(t, serve(func() string { // the demoted master
				loadsA.Add(1)
				refused.Store(true)
				return "-READONLY You can't write against a read only replica.\r\n"
			}))
			b = fakeredis.New(t, serve(func() string { loadsB.Add(1); return "$3\r\nlib\r\n" }))
			cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + a.Addr()}},
				TopologyRefreshInterval: -1, CommandTimeout: 500 * time.Millisecond})
			require.NoError(t, err)
			require.NoError(t, cl.Connect(context.Background()))
			defer func() { require.NoError(t, cl.Close()) }()

			err = NewLibrary("#!lua name=lib\nredis.register_function('f', function() return 1 end)").Load(context.Background(), cl)
			if mode == "kept" {
				require.ErrorIs(t, err, ErrReadOnly)
				assert.Contains(t, err.Error(), a.Addr())
			} else {
				assert.NoError(t, err, "the demoted master is passed over")
				require.Len(t, cl.Masters(), 1)
				assert.Equal(t, b.Addr(), cl.Masters()[0].Addr())
			}
			assert.Equal(t, int32(1), loadsA.Load())
			assert.Equal(t, int32(1), loadsB.Load(), "the shard's master has the library")
		})
	}
}

// A call with no keys that reaches a replica the map still lists among the masters (a failover it
// has not seen), which lacks the library, goes to a master again once the map no longer lists it:
// the replica refuses the load (READONLY), which has the map look again. (The READONLY reached the
// caller: "Function not found (loading the library: ... READONLY ...)", 12 keyless CallROs in a
// helper's chaos test.)
func TestCallWithNoKeysPassesOverADemotedMaster(t *testing.T) {
	var refused atomic.Bool
	var a, b *fakeredis.Server
	all := [][2]int{{0, 16383}}
	shards := func() string {
		if refused.Load() {
			return fakeredis.ShardsReply(fakeredis.Shard{Addr: b.Addr(), Ranges: all})
		}
		return fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: all})
	}
	serve := func(answer func(cmd string) string) func(*fakeredis.Conn) {
		return func(c *fakeredis.Conn) {
			cmd, err := c.Handshake()
			for ; err == nil; cmd, err = c.ReadCommand() {
				name := strings.ToUpper(strings.Join(cmd[:min(len(cmd), 2)], " "))
				if name == "CLUSTER SHARDS" {
					err = c.Write(shards())
				} else {
					err = c.Write(answer(name))
				}
			}
		}
	}
	a = fakeredis.New(t, serve(func(cmd string) string { // the demoted master, emptied by its resync
		switch cmd {
		case "FCALL_RO PING":
			return "-ERR Function not found\r\n"
		case "FUNCTION LIST":
			return "*0\r\n"
		case "FUNCTION LOAD":
			refused.Store(true)
			return "-READONLY You can't write against a read only replica.\r\n"
		}
		return "-ERR unknown command\r\n"
	}))
	var calledB atomic.Int32
	b = fakeredis.New(t, serve(func(cmd string) string {
		if cmd == "FCALL_RO PING" {
			calledB.Add(1)
			return "$4\r\npong\r\n"
		}
		return "-ERR unknown command\r\n"
	}))
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + a.Addr()}},
		TopologyRefreshInterval: -1, CommandTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()))
	defer func() { require.NoError(t, cl.Close()) }()

	v, err := NewLibrary("#!lua name=lib\nredis.register_function('ping', function() return 'pong' end)").
		CallRO(context.Background(), cl, "ping", nil)
	require.NoError(t, err)
	assert.Equal(t, "pong", v.String())
	assert.True(t, refused.Load(), "the load was tried where the call went")
	assert.Equal(t, int32(1), calledB.Load())
}

// Close while a Library call with no keys waits for the map to stop listing a demoted master
// (its FUNCTION LOAD met READONLY there) fails it with an error matching ErrClientClosed: it
// returned the READONLY, a review found, as if the server had the last word.
func TestCallWithNoKeysWaitingForADemotedMasterHearsClose(t *testing.T) {
	var a *fakeredis.Server
	refused := make(chan struct{}, 1)
	a = fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			switch strings.ToUpper(strings.Join(cmd[:min(len(cmd), 2)], " ")) {
			case "CLUSTER SHARDS": // listed as the master for good
				err = c.Write(fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: [][2]int{{0, 16383}}}))
			case "FCALL_RO PING":
				err = c.Write("-ERR Function not found\r\n")
			case "FUNCTION LIST":
				err = c.Write("*0\r\n")
			case "FUNCTION LOAD":
				select {
				case refused <- struct{}{}:
				default:
				}
				err = c.Write("-READONLY You can't write against a read only replica.\r\n")
			default:
				err = c.Write("-ERR unknown command\r\n")
			}
		}
	})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + a.Addr()}},
		TopologyRefreshInterval: -1, CommandTimeout: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()))
	done := make(chan error, 1)
	go func() {
		_, err := NewLibrary("#!lua name=lib\nredis.register_function('ping', function() return 'pong' end)").
			CallRO(context.Background(), cl, "ping", nil)
		done <- err
	}()
	<-refused
	require.NoError(t, cl.Close())
	err = <-done
	require.ErrorIs(t, err, ErrClientClosed)
	assert.ErrorIs(t, err, ErrReadOnly, "the READONLY is kept")
}
