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
// it so is passed over once the map no longer lists it among the masters; one the map keeps
// listing fails Load with the READONLY, naming it, after CommandTimeout.
func TestLoadPassesOverADemotedMaster(t *testing.T) {
	for _, demotes := range []bool{true, false} {
		var refused atomic.Bool
		var loadsA, loadsB atomic.Int32
		var a, b *fakeredis.Server
		shards := func() string {
			if demotes && refused.Load() {
				return fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: [][2]int{{0, 16383}}})
			}
			return fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: [][2]int{{0, 16383}}},
				fakeredis.Shard{Addr: b.Addr()})
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
		a = fakeredis.New(t, serve(func() string { loadsA.Add(1); return "$3\r\nlib\r\n" }))
		b = fakeredis.New(t, serve(func() string {
			loadsB.Add(1)
			refused.Store(true)
			return "-READONLY You can't write against a read only replica.\r\n"
		}))
		cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + a.Addr()}},
			TopologyRefreshInterval: -1, CommandTimeout: 500 * time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, cl.Connect(context.Background()))
		require.Len(t, cl.Masters(), 2)

		err = NewLibrary("#!lua name=lib\nredis.register_function('f', function() return 1 end)").Load(context.Background(), cl)
		if demotes {
			assert.NoError(t, err, "the demoted master is passed over")
			assert.Len(t, cl.Masters(), 1)
		} else {
			require.ErrorIs(t, err, ErrReadOnly)
			assert.Contains(t, err.Error(), b.Addr())
		}
		assert.Equal(t, int32(1), loadsA.Load())
		assert.Equal(t, int32(1), loadsB.Load())
		require.NoError(t, cl.Close())
	}
}
