package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testproxy"
	"github.com/actoredis/actoredis/resp"
)

// Node.Do's errors name the node and the command: a server's error reply (still found by
// errors.As and errors.Is), a ctx that ends in flight, and a ctx ended before, which sends
// nothing. (The first two came bare, so a caller running a command on every master could not
// tell which one failed; the third was written when its timer had not fired yet.)
func TestNodeDoErrorsNameTheNode(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	n := cl.NodeForKey("{node-do}")
	srv := tc.MasterFor(GetSlot("{node-do}"))
	ctx := context.Background()

	_, err := n.Do(ctx, Cmd("NOSUCHCMD"))
	var se *resp.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "ERR", se.Prefix)
	assert.Contains(t, err.Error(), n.Addr())
	assert.Contains(t, err.Error(), "NOSUCHCMD")
	_, err = n.Do(ctx, Cmd("LPUSH", "{node-do}s", "x"))
	require.NoError(t, err)
	_, err = n.Do(ctx, Cmd("GET", "{node-do}s"))
	assert.ErrorIs(t, err, ErrWrongType)
	assert.Contains(t, err.Error(), n.Addr())

	// A script of 1 s against a ctx of 50 ms: a reply already in when the caller gets to wait is
	// its result (a 300 ms script met a caller descheduled that long once, in CI beside other load).
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = n.Do(short, Cmd("EVAL", "local t = redis.call('TIME') while true do local n = redis.call('TIME') "+
		"if (n[1] - t[1]) * 1000000 + n[2] - t[2] > 1000000 then break end end return 1", 0))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), n.Addr())
	assert.Contains(t, err.Error(), "EVAL")

	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	_, err = n.Do(done, Cmd("SET", "{node-do}k", "v"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), n.Addr())
	_, err = n.Do(ctx, Cmd("GET", "{node-do}k"))
	assert.True(t, errors.Is(err, Nil) || err == nil, "%v", err)
	v, err := srv.Do(ctx, "EXISTS", "{node-do}k")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v, "a Do whose ctx had ended sent nothing")
}

// A Node.Do answered MOVED or READONLY asks for a refresh of the map: after a manual failover,
// which no node failing tells the client of, Masters lists the new master once a command on the
// demoted one met either. (Masters kept the demoted master until a keyed command met MOVED or the
// periodic refresh ran, never with it disabled: a FLUSHALL on every master missed the new one.)
func TestNodeDoRedirectRefreshesTheMap(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	old := tc.Masters()[0]
	promoted := tc.ReplicasOf(old)[0]
	masters := cl.Masters()
	i := slices.Index(addrsOf(masters), old.Addr())
	require.GreaterOrEqual(t, i, 0)
	demoted := masters[i]
	require.NoError(t, tc.Failover(ctx, promoted))

	_, err := demoted.Do(ctx, Cmd("FLUSHALL"))
	require.Error(t, err, "the demoted master refuses a write")
	var se *resp.Error
	require.ErrorAs(t, err, &se)
	assert.Contains(t, []string{"READONLY", "MOVED"}, se.Prefix)
	require.Eventually(t, func() bool { return slices.Contains(addrsOf(cl.Masters()), promoted.Addr()) },
		5*time.Second, 10*time.Millisecond, "the new master is listed")
	assert.NotContains(t, addrsOf(cl.Masters()), old.Addr(), "the demoted master is no longer listed")
}

// Masters lists the masters that serve no slot too (one just added to the cluster, importing its
// first slot): a FLUSHALL on every master reaches the keys already moved to it. (They were left
// out of Masters, and of Nodes until an ASK named them: a DBSIZE summed over Masters came short,
// and a FLUSHALL on each left 3 keys behind.)
func TestMastersListsThoseServingNoSlot(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas, EmptyMasters: 1})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	empty := tc.Nodes()[2]
	require.Contains(t, addrsOf(cl.Masters()), empty.Addr())
	require.Len(t, cl.Masters(), 3)
	require.Contains(t, addrsOf(cl.Nodes()), empty.Addr())

	slot := 100
	var keys []string
	for i := range 5 {
		k := keyInSlot("import-"+string(rune('a'+i)), slot)
		keys = append(keys, k)
		require.NoError(t, cl.Set(ctx, k, "v"))
	}
	require.NoError(t, tc.BeginMigration(ctx, slot, empty))
	require.NoError(t, tc.MigrateKeys(ctx, tc.MasterFor(slot), empty, keys[:3]...))
	total := int64(0)
	for _, m := range cl.Masters() {
		v, err := m.Do(ctx, Cmd("DBSIZE"))
		require.NoError(t, err)
		size, err := v.Int64()
		require.NoError(t, err)
		total += size
	}
	assert.Equal(t, int64(5), total, "DBSIZE summed over Masters")
	for _, m := range cl.Masters() {
		_, err := m.Do(ctx, Cmd("FLUSHALL"))
		require.NoError(t, err)
	}
	v, err := empty.Do(ctx, "DBSIZE")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v, "the importing master was flushed too")
}

// A MOVED the map agrees with (a key of another slot sent to a master, a write sent to a replica)
// and a replica's READONLY (FLUSHALL sent to it) ask for no refresh: they say nothing new. (Each asked for one: a loop of
// them kept discoveries running every 200 ms.) So with NodeAddressMap, where a MOVED names the
// address a node announces and the map the one it is reached at. (The MOVED's address was
// compared unmapped: each asked for a refresh.) A Library.Load cut short by its ctx names each
// node once.
func TestNodeDoRefreshesOnlyForNews(t *testing.T) {
	for _, mapped := range []bool{false, true} {
		t.Run(fmt.Sprint("NodeAddressMap: ", mapped), func(t *testing.T) { nodeDoRefreshesOnlyForNews(t, mapped) })
	}
}

func nodeDoRefreshesOnlyForNews(t *testing.T, mapped bool) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2})
	opts := ClusterOptions{TopologyRefreshInterval: -1}
	if mapped {
		opts.NodeAddressMap = map[string]string{}
		for _, n := range tc.Nodes() {
			opts.NodeAddressMap[n.Addr()] = testproxy.New(t, n.Addr()).Addr()
		}
	}
	cl := connect(t, tc, opts)
	ctx := context.Background()
	if mapped {
		require.NotNil(t, cl.snapshot().ByAddr(opts.NodeAddressMap[tc.Nodes()[0].Addr()]), "the map reaches the nodes through the proxies")
	}
	smap := cl.run.Load().smap
	owner := cl.NodeForKey("{news}")
	other := keyInSlot("news-elsewhere", (GetSlot("{news}")+8000)%16384)
	require.NotEqual(t, owner.Addr(), cl.NodeForKey(other).Addr())
	replica := cl.Replicas()[0]
	before := smap.Refreshes()
	// Longer than refreshes are spaced (200 ms): one asked for would have started.
	for start := time.Now(); time.Since(start) < 400*time.Millisecond; {
		_, err := owner.Do(ctx, Cmd("GET", other))
		require.ErrorIs(t, err, ErrMoved)
		_, err = replica.Do(ctx, Cmd("FLUSHALL"))
		require.ErrorIs(t, err, resp.ErrReadOnly)
		_, err = replica.Do(ctx, Cmd("SET", "{news}k", "v")) // MOVED to a master, as the map says
		require.ErrorIs(t, err, ErrMoved)
	}
	_, err := owner.Do(ctx, Cmd("PING")) // after the replies above, anything they caused is under way
	require.NoError(t, err)
	assert.Equal(t, before, smap.Refreshes(), "refreshes asked by MOVED and READONLY that said nothing new")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = NewLibrary(counterLibrary).Load(cancelled, cl)
	require.ErrorIs(t, err, context.Canceled)
	for _, m := range cl.Masters() {
		assert.LessOrEqual(t, strings.Count(err.Error(), m.Addr()), 1, "%s named once: %v", m.Addr(), err)
	}
}

// A MOVED only the map's own master for the slot can patch the map with: a malformed one, or one
// from another node (a replica, a master that has not heard of a move yet), at most asks for a
// refresh. CLUSTERDOWN from a master asks for one. (Each was applied at once: a malformed MOVED routed slot 0 to 127.0.0.1:0, and one
// naming a replica listed it as a master, until the next discovery.)
func TestNodeDoMovedPatchesOnlyFromTheSlotsMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	smap := cl.run.Load().smap
	const slot = 5
	owner := cl.snapshot().Master(slot)
	var stranger *Node // a master that does not serve the slot
	for _, m := range cl.Masters() {
		if m.Addr() != owner.Addr {
			stranger = m
		}
	}
	replica := cl.Replicas()[0]
	// settled waits until the map actor has handled what Do sent it: a Learn, asked after, is
	// answered after.
	settled := func() {
		_, release, err := smap.Learn(ctx, owner.Addr)
		require.NoError(t, err)
		release()
	}
	reply := func(n *Node, text string) {
		_, err := n.Do(ctx, Cmd("EVAL", "return redis.error_reply(ARGV[1])", 0, text))
		require.Error(t, err)
		settled()
	}
	ownerNode := cl.NodeForKey(keyInSlot("patch", slot))
	require.Equal(t, owner.Addr, ownerNode.Addr())
	before := smap.Refreshes() // none under way: the map is whole, its periodic refresh off
	reply(stranger, "CLUSTERDOWN The cluster is down")
	require.Eventually(t, func() bool { return smap.Refreshes() > before }, 5*time.Second, 5*time.Millisecond,
		"CLUSTERDOWN from a master asks for a discovery")
	reply(ownerNode, "MOVED oops")
	assert.Equal(t, owner.Addr, cl.snapshot().Master(slot).Addr, "a malformed MOVED")
	assert.Len(t, cl.Masters(), 2, "a malformed MOVED adds no master: %v", addrsOf(cl.Masters()))
	reply(stranger, "MOVED "+strconv.Itoa(slot)+" "+replica.Addr())
	assert.Equal(t, owner.Addr, cl.snapshot().Master(slot).Addr, "a MOVED from a master not serving the slot")
	assert.NotContains(t, addrsOf(cl.Masters()), replica.Addr(), "the replica is not listed as a master")

	// The slot's own master saying it moved patches the map at once (a discovery then puts it
	// back: it did not move). That discovery may have ended already (CI run 119): then the map
	// was published twice, the patch and the map put back (a discovery finding the map as it
	// is publishes nothing).
	before = cl.snapshot().Version
	reply(ownerNode, "MOVED "+strconv.Itoa(slot)+" "+stranger.Addr())
	if snap := cl.snapshot(); snap.Version == before+1 {
		assert.Equal(t, stranger.Addr(), snap.Master(slot).Addr, "a MOVED from the slot's master")
	} else {
		assert.GreaterOrEqual(t, snap.Version, before+2, "a MOVED from the slot's master patched the map")
	}
	require.Eventually(t, func() bool { return cl.snapshot().Master(slot).Addr == owner.Addr }, 5*time.Second,
		5*time.Millisecond, "the discovery put the slot back")
}

func addrsOf(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Addr())
	}
	return out
}
