package api

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
)

// A shard channel its node unsubscribed (a master demoted by a manual failover) is subscribed
// again on that node when the map asked at once still names it there (a node not yet told of the
// failover answered: a replica accepts the channel), and moves to the new master once the map is
// asked again, here with no periodic refresh. (It stayed on the demoted node until the next
// periodic refresh, 30 s by default.)
func TestUnsubscribedShardChannelLooksAgain(t *testing.T) {
	var failedOver atomic.Bool
	var after atomic.Int32 // topology answers since the failover
	var a, b *fakeredis.Server
	shards := func() string {
		if failedOver.Load() && after.Add(1) > 1 { // the first is a stale one
			return fakeredis.ShardsReply(fakeredis.Shard{Addr: b.Addr(), Ranges: [][2]int{{0, 16383}}})
		}
		return fakeredis.ShardsReply(fakeredis.Shard{Addr: a.Addr(), Ranges: [][2]int{{0, 16383}}})
	}
	onA := make(chan *fakeredis.Conn, 8) // a's connections, at each SSUBSCRIBE
	onB := make(chan string, 8)          // the channels subscribed on b
	serve := func(subscribed func(c *fakeredis.Conn, channel string)) func(*fakeredis.Conn) {
		return func(c *fakeredis.Conn) {
			cmd, err := c.Handshake()
			for ; err == nil; cmd, err = c.ReadCommand() {
				switch strings.ToUpper(cmd[0]) {
				case "CLUSTER":
					err = c.Write(shards())
				case "SSUBSCRIBE":
					err = c.Write(fmt.Sprintf("*3\r\n$10\r\nssubscribe\r\n$%d\r\n%s\r\n:1\r\n", len(cmd[1]), cmd[1]))
					subscribed(c, cmd[1])
				case "PING":
					err = c.Write("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
				default:
					err = c.Write("-ERR unknown command\r\n")
				}
			}
		}
	}
	a = fakeredis.New(t, serve(func(c *fakeredis.Conn, _ string) { onA <- c }))
	b = fakeredis.New(t, serve(func(_ *fakeredis.Conn, channel string) { onB <- channel }))
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + a.Addr()}},
		TopologyRefreshInterval: -1})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()))
	defer func() { require.NoError(t, cl.Close()) }()
	sub, err := cl.SSubscribe(context.Background(), "ch")
	require.NoError(t, err)
	defer sub.Close()
	first := testwait.Recv(t, onA, "ch never subscribed on a")

	failedOver.Store(true)
	require.NoError(t, first.Write("*3\r\n$12\r\nsunsubscribe\r\n$2\r\nch\r\n:0\r\n"))
	testwait.Recv(t, onA, "ch not subscribed again on a, where the stale map says")
	require.Equal(t, "ch", testwait.Recv(t, onB, "ch never moved to b"))
}
