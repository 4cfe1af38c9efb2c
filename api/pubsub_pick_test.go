package api

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testproxy"
)

// A Subscribe whose random master accepts connections and does not answer (a stopped process)
// gives it up for another within its CommandTimeout: any master will do for channels. (It waited
// out ConnectTimeout, 5 s, there, and failed: 5 of 15 Subscribes with one master of three
// stopped, at a CommandTimeout of 1.5 s.)
func TestSubscribePassesOverAStoppedMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 3 * time.Second})
	ctx := context.Background()
	stopped := tc.Masters()[2]
	require.NoError(t, syscall.Kill(stopped.PID(), syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(stopped.PID(), syscall.SIGCONT) })
	failed := 0
	for i := range 15 {
		sub, err := cl.Subscribe(ctx, "stopped-master")
		if err != nil {
			failed++
			t.Logf("Subscribe %d: %v", i, err)
			continue
		}
		require.NoError(t, sub.Close())
	}
	assert.Zero(t, failed, "of 15 Subscribes, with %s stopped", stopped.Addr())
}

// A channel subscription through a slow handshake (within CommandTimeout and ConnectTimeout) is
// made, and made again after its connection is lost: the short bound on its dial applies only when
// another master serving slots may answer sooner, and grows with each failure. (With the bound
// alone, every Subscribe failed, and a lost subscription never came back. A master serving no
// slot, which a subscription never picks, counted as another to try: with one, the dial was cut
// at 1 s, then 2 s, and the Subscribe failed.)
func TestSubscribeThroughASlowHandshake(t *testing.T) {
	for _, c := range []struct {
		empty          int
		delay, timeout time.Duration
	}{
		{0, 700 * time.Millisecond, 1500 * time.Millisecond},
		{1, 2200 * time.Millisecond, 3 * time.Second}, // more than the short bound's 1 s, then 2 s
	} {
		t.Run(fmt.Sprintf("masters serving no slot: %d", c.empty), func(t *testing.T) {
			tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, EmptyMasters: c.empty})
			m := tc.MasterFor(0)
			proxy := testproxy.NewWith(t, m.Addr(), testproxy.Options{FirstReplyDelay: c.delay}).Addr()
			cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + m.Addr()}},
				NodeAddressMap: map[string]string{m.Addr(): proxy}, CommandTimeout: c.timeout})
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, cl.Connect(ctx))
			t.Cleanup(func() { _ = cl.Close() })
			require.Len(t, cl.Masters(), 1+c.empty)
			sub, err := cl.Subscribe(ctx, "slow-handshake")
			require.NoError(t, err)
			defer sub.Close()
			_, err = m.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub")
			require.NoError(t, err)
			publishUntilHeard(t, cl, sub, "slow-handshake")
		})
	}
}

// A channel subscription goes to a master serving slots, not to one serving none (often about to
// leave the cluster: once gone it hears no one's messages, and no MOVED would move the
// subscription). (Half of them went to the empty master.)
func TestSubscribePrefersAMasterServingSlots(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	require.Len(t, cl.Masters(), 2)
	empty := tc.Nodes()[1]
	for i := range 10 {
		sub, err := cl.Subscribe(ctx, "serving-"+string(rune('a'+i)))
		require.NoError(t, err)
		defer sub.Close()
	}
	v, err := empty.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub")
	require.NoError(t, err)
	assert.Empty(t, v, "no subscription on the master serving no slot")
	v, err = tc.Nodes()[0].Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub")
	require.NoError(t, err)
	assert.NotEmpty(t, v, "the subscriptions are on the master serving slots")
}

// A Subscribe waits the longer of CommandTimeout and ConnectTimeout: it opens a connection of its
// own, three round trips before the server confirms, which across a slow link take longer than
// a command timeout set for one. (Bound by CommandTimeout alone, every Subscribe failed at 300 ms
// one way with a 1 s CommandTimeout, where each command took 600 ms; here, a handshake answered
// after 700 ms at a 500 ms CommandTimeout.)
func TestSubscribeOverALinkSlowerThanTheCommandTimeout(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	m := tc.MasterFor(0)
	proxy := testproxy.NewWith(t, m.Addr(), testproxy.Options{FirstReplyDelay: 700 * time.Millisecond}).Addr()
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + m.Addr()}},
		NodeAddressMap: map[string]string{m.Addr(): proxy}, CommandTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, cl.Connect(ctx))
	t.Cleanup(func() { _ = cl.Close() })
	sub, err := cl.Subscribe(ctx, "far")
	require.NoError(t, err)
	defer sub.Close()
	publishUntilHeard(t, cl, sub, "far")
}
