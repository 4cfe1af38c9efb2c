package api

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// pingedCluster starts a cluster of one master, and a client of it with a CommandTimeout of
// 300 ms whose subscriptions PING quickly (quickPings); errs has what its OnError hears.
func pingedCluster(t *testing.T) (tc *testcluster.Cluster, cl *Cluster, errs <-chan error) {
	quickPings(t)
	tc = testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl = connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond,
		RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	return tc, cl, errorsOf(cl)
}

// quickPings makes the subscriptions made until the test ends check their connections every
// 20 ms and PING one quiet for 100 ms.
func quickPings(t *testing.T) {
	tick, idle := subTickEvery, pingIdle
	subTickEvery, pingIdle = 20*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { subTickEvery, pingIdle = tick, idle })
}

// pingsServed returns how many PINGs n has answered, run or refused.
func pingsServed(t *testing.T, n *testcluster.Node) int {
	t.Helper()
	v, err := n.Do(context.Background(), "INFO", "commandstats")
	require.NoError(t, err)
	stats := regexp.MustCompile(`cmdstat_ping:(.*)`).FindStringSubmatch(fmt.Sprint(v))
	if stats == nil {
		return 0
	}
	total := 0
	for _, m := range regexp.MustCompile(`\b(?:calls|rejected_calls)=(\d+)`).FindAllStringSubmatch(stats[1], -1) {
		k, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		total += k
	}
	return total
}

// A quiet subscription's connection is PINGed, on RESP3 and RESP2, and the PONGs keep it: no gap
// however many CommandTimeouts pass, and the replies to an Add after them are its own.
func TestQuietSubscriptionIsPinged(t *testing.T) {
	quickPings(t)
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, Password: "adminpw",
		Users: []testcluster.User{
			{Name: "sub", Password: "pw", Rules: []string{"on", "~*", "resetchannels", "&quiet*", "+@all"}},
			{Name: "noping", Password: "pw", Rules: []string{"on", "~*", "resetchannels", "&quiet*", "+@all", "-ping"}},
		}})
	master := tc.Masters()[0]
	for _, tt := range []struct {
		name  string
		proto int
		user  string // noping: each PING is refused, which shows the server there all the same
	}{{"RESP3", 3, "sub"}, {"RESP2", 2, "sub"}, {"PingDenied", 3, "noping"}} {
		t.Run(tt.name, func(t *testing.T) {
			name := "quiet-" + tt.name
			cl := connect(t, tc, ClusterOptions{RESP: tt.proto, ClientName: name, CommandTimeout: 300 * time.Millisecond,
				RootNodes: []NodeOptions{{URL: "redis://" + tt.user + ":pw@" + tc.Addrs()[0]}}})
			errs := errorsOf(cl)
			sub, err := cl.Subscribe(context.Background(), "quiet")
			require.NoError(t, err)
			defer sub.Close()
			_, conns := subscribed(t, tc, name, "sub")
			require.Equal(t, 1, conns)
			id := clientID(t, master, name)

			// 12 PINGs, 100 ms or more apart: four CommandTimeouts at least.
			for start, deadline := pingsServed(t, master), time.Now().Add(10*time.Second); pingsServed(t, master) < start+12; {
				require.True(t, time.Now().Before(deadline), "no PINGs")
				time.Sleep(20 * time.Millisecond) // nothing to wait on: the server is asked again
			}
			assert.Equal(t, id, clientID(t, master, name), "the same connection")
			assert.Empty(t, errs)
			assert.Equal(t, "quiet", publishUntilHeard(t, cl, sub, "quiet").Channel)
			// Each PONG was told apart, and answered its PING: the next reply answers Add's
			// command, a refusal included (taken for a PING's, it would leave Add to time out).
			require.NoError(t, sub.Add(context.Background(), "quiet-2"))
			require.ErrorIs(t, sub.Add(context.Background(), "loud"), ErrNoPerm)
		})
	}
}

// clientID returns the id of the only connection named name on n.
func clientID(t *testing.T, n *testcluster.Node, name string) string {
	t.Helper()
	v, err := n.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^id=(\d+) .*\bname=`+regexp.QuoteMeta(name)+`\b`).FindAllStringSubmatch(fmt.Sprint(v), -1)
	require.Len(t, m, 1, "%v", v)
	return m[0][1]
}

// A subscription's server that stops answering (here paused: a PING waits like any command) is
// found by the PING it does not answer, within CommandTimeout: the connection is dropped, the gap
// said (ErrSubscriptionGap, ErrTimeout, naming the node), and the channel subscribed again.
func TestUnansweredPingDropsTheConnection(t *testing.T) {
	tc, cl, errs := pingedCluster(t)
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "frozen")
	require.NoError(t, err)
	defer sub.Close()
	_, err = tc.Masters()[0].Do(ctx, "CLIENT", "PAUSE", "1500", "ALL")
	require.NoError(t, err)
	err = testwait.Recv(t, errs, "no EventError for the unanswered PING")
	require.ErrorIs(t, err, ErrSubscriptionGap)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "PING")
	assert.Contains(t, err.Error(), tc.Addrs()[0])
	publisher := connect(t, tc, ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	assert.Equal(t, "frozen", publishUntilHeard(t, publisher, sub, "frozen").Channel) // once the pause ends
}

// A reader that stops taking messages for longer than the health check's PING and CommandTimeout
// loses none: its connection waits for it, and is not taken for dead.
func TestSlowReaderIsNotTakenForADeadServer(t *testing.T) {
	_, cl, errs := pingedCluster(t)
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "flood")
	require.NoError(t, err)
	defer sub.Close()
	flood(t, cl, "flood", 3000)
	time.Sleep(time.Second) // the user's pause: PING after 100 ms, CommandTimeout 300 ms, 20 ms ticks
	for i := 0; i < 3000; i++ {
		require.Equal(t, strconv.Itoa(i), nextMessage(t, sub).Payload)
	}
	assert.Empty(t, errs)
}

// flood PUBLISHes 0, 1... total-1 to channel, all at once, and checks that one subscriber (of the
// node they reached) had each.
func flood(t *testing.T, cl *Cluster, channel string, total int) {
	t.Helper()
	futures := make([]*Future, total)
	for i := range futures {
		futures[i] = cl.Send(Cmd("PUBLISH", channel, strconv.Itoa(i)))
	}
	for _, f := range futures {
		v, err := f.Await()
		require.NoError(t, err)
		n, err := v.Int64()
		require.NoError(t, err)
		require.Equal(t, int64(1), n, "one subscriber")
	}
}
