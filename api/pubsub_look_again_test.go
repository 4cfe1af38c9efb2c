package api

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	f := newFailingOver(t, 1)
	sub, err := f.cl.SSubscribe(context.Background(), "ch")
	require.NoError(t, err)
	defer sub.Close()
	f.failOver(t)
	require.Equal(t, "ch", testwait.Recv(t, f.onB, "ch never moved to b"))
}

// A Remove of a channel whose map is looked at again ends the looks for it, and lookAgain keeps a
// schedule per channel, taking each look at the tick nearest its time. (Every channel shared the
// schedule of the first, which a Remove left to run: a channel unsubscribed later had one look, 2.5
// s after, and a tick a little early put a look a whole tick later.)
func TestLookAgainSchedule(t *testing.T) {
	f := newFailingOver(t, 1<<30) // the map never shows the failover
	sub, err := f.cl.SSubscribe(context.Background(), "ch")
	require.NoError(t, err)
	defer sub.Close()
	f.failOver(t)
	inspect(t, sub, func(r *subRun) { assert.Contains(t, r.movedFrom, "ch") })
	require.NoError(t, sub.Remove("ch"))
	inspect(t, sub, func(r *subRun) { assert.Empty(t, r.movedFrom, "looks for a channel removed") })

	inspect(t, sub, func(r *subRun) {
		now := time.Now()
		early := now.Add(r.tickEvery / 3) // the tick came a little early
		r.movedFrom["x"] = &moved{from: f.a.Addr(), at: early}
		r.movedFrom["y"] = &moved{from: f.a.Addr(), at: now.Add(2 * r.tickEvery), looks: 1}
		r.movedFrom["z"] = &moved{from: f.a.Addr(), at: now, looks: maxLooks - 1}
		r.lookAgain(now)
		assert.Equal(t, 1, r.movedFrom["x"].looks)
		assert.Equal(t, now.Add(2*lookAgainAfter), r.movedFrom["x"].at)
		assert.Equal(t, 1, r.movedFrom["y"].looks, "not due: untouched")
		assert.NotContains(t, r.movedFrom, "z", "its last look taken")
		clear(r.movedFrom)
	})
}

// failingOver is a cluster of two fake nodes, a and b, whose shard channels' slots a serves until
// failOver, and b after it, as the topology says from the stale-th answer after the failover on.
type failingOver struct {
	a, b       *fakeredis.Server
	cl         *Cluster
	onA        chan *fakeredis.Conn // a's connections, at each SSUBSCRIBE
	onB        chan string          // the channels subscribed on b
	failedOver atomic.Bool
	after      atomic.Int32 // topology answers since the failover
}

func newFailingOver(t *testing.T, stale int32) *failingOver {
	f := &failingOver{onA: make(chan *fakeredis.Conn, 8), onB: make(chan string, 8)}
	shards := func() string {
		master := f.a.Addr()
		if f.failedOver.Load() && f.after.Add(1) > stale {
			master = f.b.Addr()
		}
		return fakeredis.ShardsReply(fakeredis.Shard{Addr: master, Ranges: [][2]int{{0, 16383}}})
	}
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
				case "SUNSUBSCRIBE":
					err = c.Write(fmt.Sprintf("*3\r\n$12\r\nsunsubscribe\r\n$%d\r\n%s\r\n:0\r\n", len(cmd[1]), cmd[1]))
				case "PING":
					err = c.Write("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
				default:
					err = c.Write("-ERR unknown command\r\n")
				}
			}
		}
	}
	f.a = fakeredis.New(t, serve(func(c *fakeredis.Conn, _ string) { f.onA <- c }))
	f.b = fakeredis.New(t, serve(func(_ *fakeredis.Conn, channel string) { f.onB <- channel }))
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + f.a.Addr()}},
		TopologyRefreshInterval: -1})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()))
	t.Cleanup(func() { require.NoError(t, cl.Close()) })
	f.cl = cl
	return f
}

// failOver has a unsubscribe ch, as a demoted master does, and waits for the client to subscribe it
// again there, where the stale map says.
func (f *failingOver) failOver(t *testing.T) {
	first := testwait.Recv(t, f.onA, "ch never subscribed on a")
	f.failedOver.Store(true)
	require.NoError(t, first.Write("*3\r\n$12\r\nsunsubscribe\r\n$2\r\nch\r\n:0\r\n"))
	testwait.Recv(t, f.onA, "ch not subscribed again on a, where the stale map says")
}
