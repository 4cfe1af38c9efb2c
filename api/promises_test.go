package api

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testproxy"
	"github.com/actoredis/actoredis/internal/testwait"
)

// proxied connects a client reaching every node of tc through a proxy of its own
// (NodeAddressMap), and returns the proxies by the nodes' announced addresses.
func proxied(t *testing.T, tc *testcluster.Cluster, opts ClusterOptions) (*Cluster, map[string]*testproxy.Proxy) {
	t.Helper()
	px := map[string]*testproxy.Proxy{}
	opts.NodeAddressMap = map[string]string{}
	for _, n := range tc.Nodes() {
		px[n.Addr()] = testproxy.New(t, n.Addr())
		opts.NodeAddressMap[n.Addr()] = px[n.Addr()].Addr()
	}
	opts.RootNodes = []NodeOptions{{URL: "redis://" + opts.NodeAddressMap[tc.Addrs()[0]]}}
	return connect(t, tc, opts), px
}

// A command retried after its connection failed with it written (an Idempotent SET) may have
// run, whatever its retries met after: WasWritten stays true when the retries run out unwritten.
// (It said false, "it did not run", of a SET that had run, from the last try's error alone.)
func TestWrittenStaysWrittenThroughRetries(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl, px := proxied(t, tc, ClusterOptions{CommandTimeout: time.Second, TopologyRefreshInterval: -1})
	m := tc.Masters()[0]
	key := tagOn(tc, m, "written") + "k"
	require.NoError(t, cl.Set(context.Background(), key, "v0"))

	n := cl.NodeForKey(key)
	written := n.Stats().Commands
	px[m.Addr()].Set(testproxy.Blackhole, 0) // the SET goes into the held socket
	f := cl.Send(Cmd("SET", key, "v1").Idempotent())
	for deadline := time.Now().Add(testwait.Bound); n.Stats().Commands == written; {
		require.True(t, time.Now().Before(deadline), "the SET was never written")
		time.Sleep(time.Millisecond) // nothing tells when a command is written
	}
	px[m.Addr()].HalfClose() // the client reads EOF: a written SET's connection failed
	_, err := f.Await()
	require.ErrorIs(t, err, ErrTimeout) // the retries found the node unreachable until the deadline
	assert.True(t, WasWritten(err), "%v", err)
	assert.Contains(t, err.Error(), "may have run")
}

// A script's redirect naming its own node, behind an address map, is the script's reply: it is
// not followed (it was, 16 times, and the script ran 17: the redirect named the node as the
// cluster announces it, the client compared it with the address it dials).
func TestScriptRedirectToItsOwnNodeBehindAnAddressMap(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl, _ := proxied(t, tc, ClusterOptions{})
	m := tc.Masters()[0]
	key := tagOn(tc, m, "self-redirect") + "n"
	src := "redis.call('INCR', KEYS[1]); return redis.error_reply(ARGV[1])"
	for i, reply := range []string{"MOVED", "ASK"} {
		msg := fmt.Sprintf("%s %d %s", reply, GetSlot(key), m.Addr())
		_, err := cl.Do(context.Background(), Cmd("EVAL", src, 1, key, msg))
		require.Error(t, err)
		n, err := m.Do(context.Background(), "GET", key)
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(i+1), fmt.Sprint(n), "%s: the script ran more than once", reply)
	}
}

// WasWritten looks at every error err wraps: a PartialError whose first failed slot did not run
// and whose second may have says the call may have run. (It stopped at the first ConnError or
// GaveUpError found, and said false.)
func TestWasWrittenLooksAtEveryError(t *testing.T) {
	unwritten := &ConnError{Addr: "127.0.0.1:7000", Command: "MSET", Err: ErrTimeout}
	written := &ConnError{Addr: "127.0.0.1:7001", Command: "MSET", Written: true, Err: ErrTimeout}
	for name, second := range map[string]error{
		"a written connection failure": written,
		"a retried command":            &GaveUpError{Command: "MSET", Reason: ErrTimeout, Last: unwritten, Written: true},
	} {
		e := &PartialError{Command: "MSET", Sent: 2, Failed: []SlotFailure{
			{Slot: 1, Keys: []string{"a"}, Err: &GaveUpError{Command: "MSET", Reason: ErrTimeout, Last: unwritten}},
			{Slot: 2, Keys: []string{"b"}, Err: second},
		}}
		assert.True(t, WasWritten(e), name)
	}
	assert.False(t, WasWritten(&PartialError{Command: "MSET", Sent: 1, Failed: []SlotFailure{
		{Slot: 1, Keys: []string{"a"}, Err: unwritten}}}))
}
