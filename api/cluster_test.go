package api

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
)

// TestRoutingKeysLandOnTheirOwners: 10k random keys, each on the master serving its slot, and no
// MOVED along the way.
func TestRoutingKeysLandOnTheirOwners(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	var events []EventType
	var mu sync.Mutex
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	require.NoError(t, err)
	cl.OnEvent(func(e Event) {
		mu.Lock()
		events = append(events, e.Type)
		mu.Unlock()
	})
	ctx := context.Background()
	require.NoError(t, cl.Connect(ctx))

	const n = 10_000
	futures := make([]*Future, n)
	keys := make([]string, n)
	for i := range futures {
		keys[i] = "k" + strconv.FormatUint(rand.Uint64(), 36)
		futures[i] = cl.Send(Cmd("SET", keys[i], i))
	}
	for i, f := range futures {
		_, err := f.Await()
		require.NoError(t, err, "SET %s", keys[i])
	}
	// Per master: DBSIZE equals the keys of the slots it serves.
	total := int64(0)
	for _, m := range tc.Masters() {
		size, err := m.Do(ctx, "DBSIZE")
		require.NoError(t, err)
		expected := 0
		for _, k := range keys {
			if tc.MasterFor(GetSlot(k)) == m {
				expected++
			}
		}
		assert.Equal(t, int64(expected), toInt(t, size), "master %s", m.Addr())
		total += toInt(t, size)
		assert.Zero(t, errorCount(t, m, "MOVED"), "no command went to the wrong master")
	}
	assert.Equal(t, int64(n), total)
	v, err := cl.Get(ctx, keys[42])
	require.NoError(t, err)
	assert.Equal(t, "42", v)

	require.NoError(t, cl.Close())
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, events)
	assert.Equal(t, EventConnect, events[indexOf(events, EventConnect)])
	assert.Less(t, indexOf(events, EventNodeReady), indexOf(events, EventDisconnect))
	assert.Equal(t, EventDisconnect, events[len(events)-1], "disconnect is the last event")
}

func indexOf(events []EventType, e EventType) int {
	for i, x := range events {
		if x == e {
			return i
		}
	}
	return -1
}

func TestTypedHelpers(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()

	_, err := cl.Get(ctx, "missing")
	assert.ErrorIs(t, err, Nil)
	require.NoError(t, cl.Set(ctx, "s", "v", EX(time.Minute)))
	assert.ErrorIs(t, cl.Set(ctx, "s", "w", NX()), Nil, "NX on an existing key sets nothing")
	require.NoError(t, cl.Set(ctx, "s", "w", XX(), KeepTTL()))
	ttl, err := cl.TTL(ctx, "s")
	require.NoError(t, err)
	assert.Greater(t, ttl, 50*time.Second)
	ttl, err = cl.TTL(ctx, "missing")
	require.NoError(t, err)
	assert.Equal(t, -2*time.Second, ttl, "a missing key")
	n, err := cl.Incr(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	n, err = cl.IncrBy(ctx, "counter", 41)
	require.NoError(t, err)
	assert.Equal(t, int64(42), n)
	ttl, err = cl.TTL(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, -1*time.Second, ttl, "a key without a time to live")
	_, err = cl.Incr(ctx, "s")
	assert.ErrorIs(t, err, resp.ErrGeneric)
	n, err = cl.Append(ctx, "s", "xyz")
	require.NoError(t, err)
	assert.Equal(t, int64(4), n)
	s, err := cl.GetDel(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, "wxyz", s)
	typ, err := cl.Type(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, "string", typ)
	ok, err := cl.Expire(ctx, "counter", time.Hour)
	require.NoError(t, err)
	assert.True(t, ok)
	// Sub-second expiries go out in milliseconds: EXPIRE 0 would delete the key, SET EX 0 fail.
	pttl := func(key string) int64 {
		v, err := cl.Do(ctx, Cmd("PTTL", key))
		require.NoError(t, err)
		ms, err := v.Int64()
		require.NoError(t, err)
		return ms
	}
	// pttlAfter runs set, which gives key a time to live, and returns the PTTL read right after. Each
	// check below allows the two commands some time (within); a loaded machine can take longer,
	// even long enough for the key to expire: then key is set again, without a time to live, and so
	// is its time to live, so that a check fails only on what the server was sent.
	pttlAfter := func(key string, within time.Duration, set func()) int64 {
		t.Helper()
		for try := 0; ; try++ {
			start := time.Now()
			set()
			ms := pttl(key)
			if time.Since(start) < within {
				return ms
			}
			require.Less(t, try, 20, "never set a time to live and read it within %s", within)
			require.NoError(t, cl.Set(ctx, key, "again"))
		}
	}
	expire := func(key string, ttl time.Duration) func() {
		return func() {
			ok, err := cl.Expire(ctx, key, ttl)
			require.NoError(t, err)
			assert.True(t, ok)
		}
	}
	assert.Greater(t, pttlAfter("counter", 500*time.Millisecond, expire("counter", 30500*time.Millisecond)),
		int64(30000), "30.5 s, not cut to 30 s")
	assert.Greater(t, pttlAfter("short", 500*time.Millisecond, func() {
		require.NoError(t, cl.Set(ctx, "short", "v", EX(1500*time.Millisecond)))
	}), int64(1000), "1.5 s, not cut to 1 s")
	require.NoError(t, cl.Set(ctx, "short", "v", PX(300*time.Microsecond)), "rounded up to 1 ms, not sent as 0")
	assert.Greater(t, pttlAfter("counter", 400*time.Millisecond, expire("counter", 400*time.Millisecond)),
		int64(0), "EXPIRE 0 would have deleted it")
	n, err = cl.Exists(ctx, "{u1}a", "{u1}b")
	require.NoError(t, err)
	assert.Zero(t, n)

	_, err = cl.HSet(ctx, "h", "a", 1, "b", "two")
	require.NoError(t, err)
	hv, err := cl.HGet(ctx, "h", "b")
	require.NoError(t, err)
	assert.Equal(t, "two", hv)
	all, err := cl.HGetAll(ctx, "h")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": "two"}, all)
	n, err = cl.HIncrBy(ctx, "h", "a", 9)
	require.NoError(t, err)
	assert.Equal(t, int64(10), n)
	n, err = cl.HDel(ctx, "h", "a", "zz")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	_, err = cl.LPush(ctx, "h", "x")
	assert.ErrorIs(t, err, ErrWrongType)

	_, err = cl.RPush(ctx, "l", "b", "c")
	require.NoError(t, err)
	_, err = cl.LPush(ctx, "l", "a")
	require.NoError(t, err)
	l, err := cl.LRange(ctx, "l", 0, -1)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, l)
	first, err := cl.LPop(ctx, "l")
	require.NoError(t, err)
	assert.Equal(t, "a", first)

	_, err = cl.SAdd(ctx, "set", "m1", "m2")
	require.NoError(t, err)
	members, err := cl.SMembers(ctx, "set")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"m1", "m2"}, members)
	in, err := cl.SIsMember(ctx, "set", "m2")
	require.NoError(t, err)
	assert.True(t, in)

	_, err = cl.ZAdd(ctx, "z", Z{Score: 2, Member: "two"}, Z{Score: 1, Member: "one"})
	require.NoError(t, err)
	zr, err := cl.ZRange(ctx, "z", 0, -1)
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two"}, zr)
	score, err := cl.ZIncrBy(ctx, "z", 0.5, "one")
	require.NoError(t, err)
	assert.Equal(t, 1.5, score)
	score, err = cl.ZScore(ctx, "z", "one")
	require.NoError(t, err)
	assert.Equal(t, 1.5, score)
	_, err = cl.ZScore(ctx, "z", "nobody")
	assert.ErrorIs(t, err, Nil)

	n, err = cl.Del(ctx, "{u1}a", "{u1}b")
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = cl.Do(ctx, Cmd("DEL", "a-key", "another-key")) // Del would split it
	assert.ErrorIs(t, err, ErrCrossSlot, "keys of different slots are refused before sending")
	assert.Contains(t, err.Error(), "client")
}

func TestNodeHandles(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	assert.Len(t, cl.Masters(), 3)
	assert.Len(t, cl.Replicas(), 3)
	assert.Len(t, cl.Nodes(), 6)
	owner := cl.NodeForKey("user:1")
	require.NotNil(t, owner)
	assert.Equal(t, tc.MasterFor(GetSlot("user:1")).Addr(), owner.Addr())
	assert.True(t, owner.IsMaster())
	v, err := owner.Do(ctx, Cmd("CLUSTER", "MYID"))
	require.NoError(t, err)
	assert.Equal(t, owner.ID(), v.String())
	assert.NotNil(t, cl.RandomNode())
	// A server command on one node, no routing: a key of another slot gets MOVED, not followed.
	other := keyInSlot("elsewhere", (GetSlot("user:1")+8000)%16384)
	_, err = owner.Do(ctx, Cmd("GET", other))
	assert.ErrorIs(t, err, ErrMoved)
	// The argument types Cmd takes, as Cluster.Do does. (Those not resp's own were refused.)
	v, err = owner.Do(ctx, Cmd("ECHO", uint32(7)))
	require.NoError(t, err)
	assert.Equal(t, "7", v.String())
}

func TestConnectErrors(t *testing.T) {
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:1"}, {URL: "redis://127.0.0.1:2"}}})
	require.NoError(t, err)
	err = cl.Connect(context.Background())
	require.ErrorIs(t, err, ErrRootNodesUnavailable)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.Contains(t, err.Error(), "127.0.0.1:2")
	assert.Contains(t, err.Error(), "refused")
	_, err = cl.Send(Cmd("PING")).Await()
	assert.ErrorIs(t, err, ErrClientClosed)
	assert.Contains(t, err.Error(), "Connect failed", "says why, not only \"closed\"")
	err = cl.Connect(context.Background())
	assert.ErrorIs(t, err, ErrClientClosed)
	assert.Contains(t, err.Error(), "create a new Cluster")

	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl, err = CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	require.NoError(t, err)
	_, err = cl.Send(Cmd("PING")).Await()
	assert.ErrorIs(t, err, ErrClientClosed, "commands before Connect fail")
	assert.Contains(t, err.Error(), "Connect has not been called")
	require.NoError(t, cl.Connect(context.Background()))
	assert.Error(t, cl.Connect(context.Background()), "a second Connect fails")
	require.NoError(t, cl.Close())
	require.NoError(t, cl.Close())
	_, err = cl.Do(context.Background(), Cmd("PING"))
	assert.ErrorIs(t, err, ErrClientClosed)
	assert.Equal(t, ErrClientClosed.Error(), err.Error(), "after Close, closed it is")
}

func TestCloseUnderLoad(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()))
	var wg sync.WaitGroup
	var done atomic.Int64
	busy := make(chan struct{})
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				_, err := cl.Send(Cmd("INCR", "close:"+strconv.Itoa(w))).Await() // never hangs
				if err != nil {
					if !errors.Is(err, ErrClientClosed) && !errors.Is(err, ErrConnection) {
						t.Errorf("unexpected error: %v", err)
					}
					return
				}
				if done.Add(1) == 1000 {
					close(busy)
				}
			}
		}()
	}
	<-busy // 1000 commands answered: Close lands in the middle of the load
	require.NoError(t, cl.Close())
	wg.Wait() // every worker returned: every future completed; goleak checks the rest in TestMain
}

// After Close, a Node handle taken before it and a command whose send raced it (it passed the
// state check, then Close ran to the end) both fail with ErrClientClosed instead of waiting.
func TestCommandsAfterCloseFail(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := cl.Masters()[0]
	_, err := n.Do(ctx, Cmd("PING"))
	require.NoError(t, err)
	rt := cl.run.Load()
	require.NoError(t, cl.Close())
	assert.Nil(t, cl.run.Load(), "a closed Cluster holds nothing it started")

	_, err = n.Do(ctx, Cmd("PING"))
	require.ErrorIs(t, err, ErrClientClosed)
	assert.Contains(t, err.Error(), n.Addr())
	assert.Contains(t, err.Error(), "PING")

	// The rest of send, as if its state check had passed just before Close.
	f := &Future{}
	f.self = f
	args, err := f.bind(Cmd("GET", "k").args)
	require.NoError(t, err)
	f.r.Init(rt.disp, args)
	rt.disp.Send(&f.r)
	_, err = f.AwaitContext(ctx)
	require.ErrorIs(t, err, ErrClientClosed)
}

// Commands whose key follows a subcommand go straight to the key's owner (no MOVED), learned from
// the server's COMMAND; commands that act on one node only are refused through the cluster.
func TestContainerAndPerNodeCommands(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	moved := func() (n int) {
		for _, m := range tc.Masters() {
			n += errorCount(t, m, "MOVED")
		}
		return n
	}
	before := moved()
	for i := 0; i < 30; i++ {
		k, s := "obj:"+strconv.Itoa(i), "stream:"+strconv.Itoa(i)
		require.NoError(t, cl.Set(ctx, k, "v"))
		_, err := cl.Do(ctx, Cmd("XADD", s, "*", "f", "v"))
		require.NoError(t, err)
		for _, cmd := range []Command{Cmd("OBJECT", "ENCODING", k), Cmd("MEMORY", "USAGE", k), Cmd("XINFO", "STREAM", s),
			Cmd("XGROUP", "CREATE", s, "g", "$"), Cmd("EVAL", "return redis.call('GET', KEYS[1])", []byte("1"), k)} {
			_, err := cl.Do(ctx, cmd)
			require.NoError(t, err, "%v", cmd.args)
		}
	}
	assert.Equal(t, before, moved(), "every command went to its key's owner")

	for _, cmd := range []Command{Cmd("FLUSHALL"), Cmd("SCAN", 0), Cmd("KEYS", "*"), Cmd("SCRIPT", "LOAD", "return 1"), Cmd("WAIT", 1, 100)} {
		_, err := cl.Do(ctx, cmd)
		require.ErrorIs(t, err, ErrNodeCommand, "%v", cmd.args)
	}
	n, err := cl.Exists(ctx, "obj:0")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "nothing was flushed")
	for _, m := range cl.Masters() {
		_, err := m.Do(ctx, Cmd("SCRIPT", "LOAD", "return 1"))
		require.NoError(t, err, "a per-node command goes through Node.Do")
	}

	// Refused before they are written: through the cluster and through a Node alike.
	node := cl.NodeForKey("obj:0")
	for _, do := range []func(Command) (resp.Value, error){
		func(c Command) (resp.Value, error) { return cl.Do(ctx, c) },
		func(c Command) (resp.Value, error) { return node.Do(ctx, c) },
	} {
		var none []any // a list that turned out empty: the server would answer it with nothing
		_, err := do(Cmd(none...))
		require.ErrorIs(t, err, ErrEmptyCommand)
		_, err = do(Cmd("AUTH", "default", "pw")) // would log every later caller in as another user
		require.ErrorIs(t, err, ErrUnsupportedCommand)
		v, err := do(Cmd("GET", "obj:0"))
		require.NoError(t, err)
		assert.Equal(t, "v", v.String(), "the replies that follow are the right ones")
	}
}

// A read-only blocking command its caller gave up on is not taken back for a retry (and so sets
// off no topology refresh): its caller is gone.
func TestAbandonedReadOnlyBlockingCommandIsNotRetried(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	before := cl.run.Load().smap.Refreshes()
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := cl.Do(ctx, Cmd("XREAD", "BLOCK", 0, "STREAMS", "nothing", "$"))
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	// A plain command afterwards: the dispatcher has handled whatever the cancelled ones sent back.
	_, err := cl.Get(context.Background(), "k")
	require.ErrorIs(t, err, Nil)
	assert.Equal(t, before, cl.run.Load().smap.Refreshes(), "no refresh for commands nobody waits for")
}

// A Node handle whose node has left the cluster (here: its node actor closed, as the slot map
// closes one a new topology drops) fails with ErrNodeGone, naming the node and the command.
func TestNodeHandleAfterItsNodeLeft(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	n := cl.Masters()[0]
	require.NoError(t, n.ref.Node.Close(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.Do(ctx, Cmd("INFO", "memory"))
	require.ErrorIs(t, err, ErrNodeGone)
	assert.NotErrorIs(t, err, ErrClientClosed)
	assert.Equal(t, 1, strings.Count(err.Error(), n.Addr()), "named once: %v", err)
	assert.Contains(t, err.Error(), "INFO")
}

// A script's error reply of 70,000 bytes, past the 64 KiB resp allowed for a line until
// 2026-11-28, reaches the caller as the server's error, prefix and all; a client whose
// ClusterOptions.Limits allow shorter lines gets a protocol error instead.
func TestLongErrorReply(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	ctx := context.Background()
	const script = "return redis.error_reply('MYERR ' .. string.rep('x', 70000))"
	cl := connect(t, tc, ClusterOptions{})
	_, err := cl.Do(ctx, Cmd("EVAL", script, 0))
	var se *resp.Error
	require.True(t, errors.As(err, &se), "a server error: %v", err)
	assert.Equal(t, "MYERR", se.Prefix)
	assert.Len(t, se.Msg, 70000)
	require.NoError(t, cl.Set(ctx, "after-a-long-error", "v"))

	small := connect(t, tc, ClusterOptions{Limits: resp.Limits{MaxLineLen: 1000}})
	_, err = small.Do(ctx, Cmd("EVAL", script, 0))
	assert.ErrorIs(t, err, resp.ErrLineTooLong)
}

// TestReplyPastTheLimitsIsNotRetried: a read-only command whose reply breaks the Limits fails with
// the limit error, once. Retried, it met the same reply again and again until its deadline, and
// each time dropped the connection under every other command on it.
func TestReplyPastTheLimitsIsNotRetried(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	ctx := context.Background()
	cl := connect(t, tc, ClusterOptions{})
	require.NoError(t, cl.Set(ctx, "{lim}big", strings.Repeat("x", 5000)))
	require.NoError(t, cl.Set(ctx, "{lim}small", "v"))

	small := connect(t, tc, ClusterOptions{Limits: resp.Limits{MaxBulkLen: 1000}})
	var drops atomic.Int32
	dropped := make(chan struct{}, 1)
	small.OnEvent(func(e Event) {
		if e.Type == EventNodeDisconnect {
			drops.Add(1)
			select {
			case dropped <- struct{}{}:
			default:
			}
		}
	})
	_, err := small.Get(ctx, "{lim}big")
	assert.ErrorIs(t, err, resp.ErrBulkTooLong)
	assert.True(t, WasWritten(err), "it ran: %v", err)
	assert.NotErrorIs(t, err, ErrTimeout, "no retries until the deadline")
	v, err := small.Get(ctx, "{lim}small") // same node, next connection: the drop was handled before it
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	// The node's events reach the client through the slot map actor, by message: waitDelivered
	// alone could run before the disconnect was emitted, and find no delivery to wait for.
	testwait.Recv(t, dropped, "no node-disconnect event")
	small.waitDelivered()
	assert.Equal(t, int32(1), drops.Load(), "one connection dropped")
}

// TestMaxBlockingConns: with every connection for blocking commands of a node in use, another
// blocking command waits CommandTimeout for one, then fails with ErrBlockingPoolFull, not sent.
func TestMaxBlockingConns(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	ctx := context.Background()
	cl := connect(t, tc, ClusterOptions{MaxBlockingConns: 1, CommandTimeout: 300 * time.Millisecond})
	first := cl.Send(Cmd("BLPOP", "{pool}a", 0))
	awaitBlocked(t, tc.MasterFor(GetSlot("{pool}a")))
	_, err := cl.Do(ctx, Cmd("BLPOP", "{pool}b", 0))
	assert.ErrorIs(t, err, ErrBlockingPoolFull)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.NotErrorIs(t, err, ErrConnection, "no connection failed")
	assert.False(t, WasWritten(err))
	_, err = cl.Do(ctx, Cmd("RPUSH", "{pool}a", "x"))
	require.NoError(t, err)
	v, err := first.Await()
	require.NoError(t, err)
	assert.Equal(t, "x", v.Index(1).String())
}

// CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT go to the master of the slot they name: only it can
// answer. (They went to a random master, which answered 0 and nothing without an error.)
func TestCommandsAboutASlotGoToItsMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	ctx := context.Background()
	cl := connect(t, tc, ClusterOptions{})
	for i := range 5 {
		require.NoError(t, cl.Set(ctx, "{slotted}"+strconv.Itoa(i), "v"))
	}
	slot := GetSlot("{slotted}")
	for range 12 {
		v, err := cl.Do(ctx, Cmd("CLUSTER", "COUNTKEYSINSLOT", slot))
		require.NoError(t, err)
		n, err := v.Int64()
		require.NoError(t, err)
		assert.Equal(t, int64(5), n)
		keys, err := cl.Do(ctx, Cmd("CLUSTER", "GETKEYSINSLOT", slot, 10))
		require.NoError(t, err)
		assert.Equal(t, 5, keys.Len())
	}
}

// A cluster whose nodes announce addresses this host cannot reach (hostnames no one resolves, as
// behind a NAT or in a container network) fails Connect, naming each master's failure and the
// option that helps. (Connect succeeded, and every command failed at CommandTimeout after.)
func TestConnectFailsWhenNoMasterCanBeReached(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas,
		AnnounceHostname: func(i int) string { return "n" + strconv.Itoa(i) + ".invalid" }})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	require.NoError(t, err)
	err = cl.Connect(context.Background())
	require.ErrorIs(t, err, ErrConnection)
	assert.Contains(t, err.Error(), "NodeAddressMap")
	for i, n := range tc.Masters() {
		assert.Contains(t, err.Error(), "n"+strconv.Itoa(i)+".invalid:"+strconv.Itoa(n.Port()))
	}
	_, err = cl.Do(context.Background(), Cmd("PING"))
	assert.ErrorIs(t, err, ErrClientClosed, "a failed Connect closes the client")
}
