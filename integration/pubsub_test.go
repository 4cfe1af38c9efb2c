package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// Subscriptions survive the loss of the master they are on: a shard channel's is made again on
// the replica promoted in its place, a channel's on another node; then a manual failover moves
// the shard channel's slot back, and it follows again.
func TestSubscriptionsSurviveFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{})
	ctx := context.Background()
	victim := tc.Masters()[0]
	channel := channelOn(t, tc, victim)
	ssub, err := cl.SSubscribe(ctx, channel)
	require.NoError(t, err)
	defer ssub.Close()
	sub, err := cl.Subscribe(ctx, "everywhere")
	require.NoError(t, err)
	defer sub.Close()
	spublishUntilHeard(t, cl, ssub, channel)

	// The channel subscriber's node: PUBSUB NUMSUB counts a node's own subscribers.
	var holder *testcluster.Node
	for _, n := range tc.Masters() {
		v, err := n.Do(ctx, "PUBSUB", "NUMSUB", "everywhere")
		require.NoError(t, err)
		if v.([]any)[1].(int64) == 1 {
			holder = n
		}
	}
	require.NotNil(t, holder)

	// One master at a time: a replica is promoted by the votes of a majority of the masters.
	require.NoError(t, tc.Kill(victim))
	promoted, err := tc.WaitForFailover(ctx, victim)
	require.NoError(t, err)
	if holder != victim {
		require.NoError(t, tc.Kill(holder))
		_, err = tc.WaitForFailover(ctx, holder)
		require.NoError(t, err)
	}
	spublishUntilHeard(t, cl, ssub, channel)
	assert.Equal(t, "everywhere", publishUntilHeard(t, cl, sub, "everywhere").Channel)

	// The killed master comes back as a replica, and takes its slots back by a manual failover.
	require.NoError(t, tc.Restart(ctx, victim))
	require.NoError(t, tc.Failover(ctx, victim))
	require.NotEqual(t, promoted, tc.MasterFor(api.GetSlot(channel)))
	spublishUntilHeard(t, cl, ssub, channel)
}

// channelOn returns a shard channel whose slot n serves.
func channelOn(t *testing.T, tc *testcluster.Cluster, n *testcluster.Node) string {
	for i := 0; i < 100000; i++ {
		ch := fmt.Sprint("ch:", i)
		if tc.MasterFor(api.GetSlot(ch)) == n {
			return ch
		}
	}
	require.FailNow(t, "no channel for "+n.Addr())
	return ""
}

// spublishUntilHeard SPUBLISHes to channel, numbering the payloads, until sub receives one of
// them, for up to 10 s: after a failover the subscription comes back on its own time.
func spublishUntilHeard(t *testing.T, cl *api.Cluster, sub *api.Subscription, channel string) api.Message {
	return untilHeard(t, cl, sub, "SPUBLISH", channel)
}

// publishUntilHeard is spublishUntilHeard with PUBLISH.
func publishUntilHeard(t *testing.T, cl *api.Cluster, sub *api.Subscription, channel string) api.Message {
	return untilHeard(t, cl, sub, "PUBLISH", channel)
}

func untilHeard(t *testing.T, cl *api.Cluster, sub *api.Subscription, publish, channel string) api.Message {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		// A publish may fail while the cluster fails over: the next one goes on.
		_, _ = cl.Do(ctx, api.Cmd(publish, channel, fmt.Sprint("m", i)))
		select {
		case m, ok := <-sub.Messages():
			require.True(t, ok, "Messages closed")
			assert.Equal(t, channel, m.Channel)
			return m
		case <-time.After(100 * time.Millisecond):
		}
	}
	require.FailNow(t, "nothing heard on "+channel+" within 10 s")
	return api.Message{}
}

// A manual failover: the demoted master unsubscribes the shard channels, and the client, whose
// map may still name it, can subscribe them again there (a replica accepts them, and would
// deliver them beside the new master). The subscription moves to the new master once the map
// shows it, leaves nothing on the demoted node (every message comes once), and keeps receiving
// after that node goes on to replicate another master (as replica migration may make it do).
func TestShardSubscriptionFollowsAManualFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{})
	ctx := context.Background()
	old := tc.Masters()[0]
	a := channelOn(t, tc, old)
	b := a
	for i := 0; api.GetSlot(b) == api.GetSlot(a); i++ { // another slot of the same master
		b = channelOn(t, tc, old) + fmt.Sprint("-", i)
		if tc.MasterFor(api.GetSlot(b)) != old {
			b = a
		}
	}
	ssub, err := cl.SSubscribe(ctx, a, b)
	require.NoError(t, err)
	defer ssub.Close()
	spublishUntilHeard(t, cl, ssub, a)

	promoted := tc.ReplicasOf(old)[0]
	require.NoError(t, tc.Failover(ctx, promoted))
	for deadline := time.Now().Add(10 * time.Second); ; {
		onNew, onOld := shardSubscribers(t, promoted, a, b), shardSubscribers(t, old, a, b)
		if onNew == 2 && onOld == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "not moved to the new master, or left on the old one: "+
			"%d of 2 on the new master, %d on the old; the client's masters: %v", onNew, onOld, masterAddrs(cl))
		time.Sleep(20 * time.Millisecond) // the client moves them on its own time: nothing to wait on here
	}
	drain(ssub)
	for i := 0; i < 10; i++ {
		_, err := cl.Do(ctx, api.Cmd("SPUBLISH", a, fmt.Sprint(i)))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), nextMessage(t, ssub).Payload, "each message once, in order")
	}

	var other *testcluster.Node
	for _, m := range tc.Masters() {
		if m != promoted && m != old {
			other = m
		}
	}
	require.NotNil(t, other)
	_, err = old.Do(ctx, "CLUSTER", "REPLICATE", other.ID())
	require.NoError(t, err)
	spublishUntilHeard(t, cl, ssub, a)
	spublishUntilHeard(t, cl, ssub, b)
}

// masterAddrs lists the masters in cl's map.
func masterAddrs(cl *api.Cluster) []string {
	var addrs []string
	for _, m := range cl.Masters() {
		addrs = append(addrs, m.Addr())
	}
	return addrs
}

// shardSubscribers counts n's subscribers of the shard channels (PUBSUB SHARDNUMSUB).
func shardSubscribers(t *testing.T, n *testcluster.Node, channels ...string) int64 {
	t.Helper()
	v, err := n.Do(context.Background(), append([]string{"PUBSUB", "SHARDNUMSUB"}, channels...)...)
	require.NoError(t, err)
	var sum int64
	for i, x := range v.([]any) {
		if i%2 == 1 {
			sum += x.(int64)
		}
	}
	return sum
}

// drain reads what sub holds already.
func drain(sub *api.Subscription) {
	for {
		select {
		case <-sub.Messages():
		default:
			return
		}
	}
}

// nextMessage waits up to 10 s for sub's next message.
func nextMessage(t *testing.T, sub *api.Subscription) api.Message {
	t.Helper()
	return testwait.Next(t, sub.Messages(), "no message")
}

// An Add made while the master of the channel's slot is down waits for the replica promoted in
// its place, within CommandTimeout (a failover takes about 2 s here), and the channel receives
// from there; a Remove of it afterwards leaves nothing on the new master.
func TestAddDuringAFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, api.ClusterOptions{CommandTimeout: 8 * time.Second})
	ctx := context.Background()
	victim, other := tc.Masters()[0], tc.Masters()[1]
	kept, added := channelOn(t, tc, other), channelOn(t, tc, victim)
	sub, err := cl.SSubscribe(ctx, kept)
	require.NoError(t, err)
	defer sub.Close()
	spublishUntilHeard(t, cl, sub, kept)

	require.NoError(t, tc.Kill(victim))
	require.NoError(t, sub.Add(ctx, added), "confirmed by the promoted replica")
	promoted := tc.MasterFor(api.GetSlot(added))
	require.NotEqual(t, victim, promoted)
	assert.Equal(t, added, spublishUntilHeard(t, cl, sub, added).Channel)

	require.NoError(t, sub.Remove(added))
	for deadline := time.Now().Add(10 * time.Second); shardSubscribers(t, promoted, added) > 0; {
		require.True(t, time.Now().Before(deadline), "still subscribed on %s", promoted.Addr())
		time.Sleep(20 * time.Millisecond) // the server is asked again
	}
	assert.Equal(t, kept, spublishUntilHeard(t, cl, sub, kept).Channel)
}
