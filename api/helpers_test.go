package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// connect creates and connects a client to c, closed when the test ends.
func connect(t testing.TB, c *testcluster.Cluster, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.RootNodes == nil {
		for _, a := range c.Addrs()[:2] {
			opts.RootNodes = append(opts.RootNodes, NodeOptions{URL: "redis://" + a})
		}
	}
	cl, err := CreateCluster(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.Connect(ctx))
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// info returns one INFO section of a server as a map.
func info(t testing.TB, n *testcluster.Node, section string) map[string]string {
	t.Helper()
	fields, err := n.Info(context.Background(), section)
	require.NoError(t, err)
	return fields
}

// callsOf reads "calls=N" of a command from INFO commandstats (0 when never called).
func callsOf(t testing.TB, n *testcluster.Node, cmd string) int {
	stat, ok := info(t, n, "commandstats")["cmdstat_"+cmd]
	if !ok {
		return 0
	}
	calls, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
	v, err := strconv.Atoi(calls)
	require.NoError(t, err)
	return v
}

// errorCount reads errorstat_<prefix> from INFO errorstats (0 when never seen).
func errorCount(t testing.TB, n *testcluster.Node, prefix string) int {
	stat, ok := info(t, n, "errorstats")["errorstat_"+prefix]
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimPrefix(stat, "count="))
	require.NoError(t, err)
	return v
}

// tagOn returns "{prefix}", or "{prefix-N}", a hash tag whose slot m serves: keys that start with
// it live on m.
func tagOn(tc *testcluster.Cluster, m *testcluster.Node, prefix string) string {
	tag := "{" + prefix + "}"
	for i := 0; tc.MasterFor(GetSlot(tag)) != m; i++ {
		tag = fmt.Sprintf("{%s-%d}", prefix, i)
	}
	return tag
}

// keyInSlot returns a key (with prefix) whose slot is slot.
func keyInSlot(prefix string, slot int) string {
	for i := 0; ; i++ {
		k := prefix + ":" + strconv.Itoa(i)
		if GetSlot(k) == slot {
			return k
		}
	}
}

func toInt(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(int64)
	require.True(t, ok, "%T is not an integer", v)
	return n
}

// slotOnTheMove starts two masters without replicas and a client that refreshes its map only when
// told, and sets key, a key of slot, to value: for tests that move slot from its master, from, to
// the other, to.
func slotOnTheMove(t *testing.T, prefix string, slot int, value any) (tc *testcluster.Cluster, cl *Cluster, key string, from, to *testcluster.Node) {
	t.Helper()
	tc = testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl = connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	key = keyInSlot(prefix, slot)
	from = tc.MasterFor(slot)
	require.NoError(t, cl.Set(context.Background(), key, value))
	return tc, cl, key, from, otherMaster(tc, from)
}

// midMigration starts a migration of the slot of {tag} (see slotOnTheMove) with two of its
// keys set, {tag}flag to 1 and {tag}data to "orig", and moves the one named moved ("flag" or
// "data") to the target: the other stays on the source.
func midMigration(t *testing.T, tag, moved string) (tc *testcluster.Cluster, cl *Cluster, flag, data string, from, to *testcluster.Node) {
	t.Helper()
	ctx := context.Background()
	slot := GetSlot(tag)
	tc, cl, _, from, to = slotOnTheMove(t, tag+"flag", slot, 1)
	flag, data = tag+"flag", tag+"data"
	require.NoError(t, cl.Set(ctx, flag, 1))
	require.NoError(t, cl.Set(ctx, data, "orig"))
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, tag+moved))
	return tc, cl, flag, data, from, to
}

// otherMaster returns a master of tc other than m.
func otherMaster(tc *testcluster.Cluster, m *testcluster.Node) *testcluster.Node {
	for _, n := range tc.Masters() {
		if n != m {
			return n
		}
	}
	panic("the cluster has a single master")
}

// awaitBlocked waits until one client is blocked on n (a BLPOP waiting there, say).
func awaitBlocked(t *testing.T, n *testcluster.Node) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := n.BlockedClients(context.Background())
		return err == nil && c == 1
	}, 10*time.Second, time.Millisecond, "no client blocked on %s", n.Addr())
}

// callAtOnce makes callers calls of call at once, in each of rounds rounds (call gets the round),
// and fails t, naming the first error, unless every call succeeded.
func callAtOnce(t *testing.T, rounds, callers int, call func(round int) error) {
	t.Helper()
	var failed atomic.Int64
	var first atomic.Value
	for round := range rounds {
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if err := call(round); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			})
		}
		wg.Wait()
	}
	require.Zero(t, failed.Load(), "calls failed; the first: %v", first.Load())
}

// pace spins for d: a caller's pace between commands, not a wait for anything (a sleep that short
// would last as long as the timer's resolution).
func pace(d time.Duration) {
	for until := time.Now().Add(d); time.Now().Before(until); {
	}
}
