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
)

// replicaNode returns the client's node for the server n, a replica.
func replicaNode(t *testing.T, cl *Cluster, n *testcluster.Node) *Node {
	t.Helper()
	for _, r := range cl.Replicas() {
		if r.Addr() == n.Addr() {
			return r
		}
	}
	require.FailNow(t, "the client has no node for replica "+n.Addr())
	return nil
}

// With UseReplicas, a key already moved to the target of a migration is read, before any ASK has
// told the client of the migration: a replica's Nil is checked with its master, which answers ASK.
// (Redis 7.0 does not tell replicas of a slot's MIGRATING state: the replica, which had the key
// until its master moved it, answers Nil. Before, 4 of 8 such reads returned Nil.)
func TestReplicaNilIsCheckedWithTheMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true, TopologyRefreshInterval: -1})
	ctx := context.Background()
	slots := []int{11, 12, 13, 14, 15, 16, 17, 18}
	from := tc.MasterFor(slots[0])
	to := otherMaster(tc, from)
	replica := replicaNode(t, cl, tc.ReplicasOf(from)[0])
	keys := make([]string, len(slots))
	for i, s := range slots {
		keys[i] = keyInSlot("replica-nil", s)
		require.NoError(t, cl.Set(ctx, keys[i], "v1"))
	}
	for _, k := range keys { // the replica has every key before anything moves
		require.Eventually(t, func() bool {
			v, err := replica.Do(ctx, Cmd("GET", k))
			return err == nil && v.String() == "v1"
		}, 5*time.Second, 10*time.Millisecond)
	}
	for i, s := range slots {
		require.NoError(t, tc.BeginMigration(ctx, s, to))
		require.NoError(t, tc.MigrateKeys(ctx, from, to, keys[i]))
	}
	replicaGets := callsOf(t, tc.ReplicasOf(from)[0], "get")
	for _, k := range keys {
		v, err := cl.Get(ctx, k)
		require.NoError(t, err, k)
		assert.Equal(t, "v1", v, k)
	}
	assert.Positive(t, callsOf(t, tc.ReplicasOf(from)[0], "get")-replicaGets, "reads went to the replica")
	for _, s := range slots {
		require.NoError(t, tc.FinishMigration(ctx, s, to))
	}
	// A key that is nowhere is Nil, from the master.
	_, err := cl.Get(ctx, keyInSlot("replica-nil-missing", 11))
	require.ErrorIs(t, err, Nil)
}

// A replica that answers MASTERDOWN (its link to its master is down, and
// replica-serve-stale-data is no) is passed over for a while: the read goes to the master at
// once, and the next reads do not meet the replica (before, each read waited a backoff, 100
// sequential GETs took 2.2 s instead of 16 ms, and the replica answered MASTERDOWN 100 times).
func TestReplicaAnsweringMasterDownIsPassedOver(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true})
	ctx := context.Background()
	master := tc.Masters()[0]
	replica := tc.ReplicasOf(master)[0]
	var keys []string
	for i := 0; len(keys) < 100; i++ {
		if k := "md:" + strconv.Itoa(i); tc.MasterFor(GetSlot(k)) == master {
			keys = append(keys, k)
			require.NoError(t, cl.Set(ctx, k, k))
		}
	}
	for _, args := range [][]string{{"CONFIG", "SET", "replica-serve-stale-data", "no"},
		{"CONFIG", "SET", "masterauth", "bogus"}, {"CLIENT", "KILL", "TYPE", "master"}} {
		_, err := replica.Do(ctx, args...)
		require.NoError(t, err)
	}
	t.Cleanup(func() { _, _ = replica.Do(context.Background(), "CONFIG", "SET", "masterauth", "") })
	require.Eventually(t, func() bool { return info(t, replica, "replication")["master_link_status"] == "down" },
		5*time.Second, 10*time.Millisecond)
	before := errorCount(t, replica, "MASTERDOWN")
	for _, k := range keys {
		v, err := cl.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, k, v)
	}
	// 100 reads take well under restFor (1 s) here: the replica is asked once, maybe twice.
	assert.LessOrEqual(t, errorCount(t, replica, "MASTERDOWN")-before, 2, "the replica kept taking reads")
}

// A blocking read sent to a replica that ends with Nil (XREAD BLOCK timing out) is not run again
// on the master, where it would block as long again.
func TestBlockingReadOnAReplicaIsNotCheckedWithTheMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true})
	ctx := context.Background()
	master, replica := tc.Masters()[0], tc.ReplicasOf(tc.Masters()[0])[0]
	for range 4 {
		v, err := cl.Do(ctx, Cmd("XREAD", "BLOCK", "20", "STREAMS", "nil-stream", "$"))
		require.NoError(t, err)
		require.True(t, v.IsNull(), "%v", v)
	}
	onReplica, onMaster := callsOf(t, replica, "xread"), callsOf(t, master, "xread")
	assert.Positive(t, onReplica, "reads went to the replica")
	assert.Equal(t, 4, onReplica+onMaster, "each XREAD ran once")
}

// With UseReplicas, reads of a slot whose master the client cannot reach go to its replicas, the
// reads the round-robin gives the master included (before, those waited in its offline queue: for
// the failover, here disabled, until CommandTimeout), and those it gives a replica that is down
// too go to another. The cluster lets its replicas serve reads while a master is down
// (cluster-allow-reads-when-down).
func TestReadsOfADownMasterGoToItsReplica(t *testing.T) {
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprint(replicas, " replicas"), func(t *testing.T) {
			tc, cl, key, master := replicatedKey(t, replicas)
			ctx := context.Background()
			down := []*testcluster.Node{master}
			if replicas == 2 {
				down = append(down, tc.ReplicasOf(master)[0])
			}
			for _, n := range down {
				require.NoError(t, tc.Kill(n))
			}
			require.Eventually(t, func() bool { // the client's connections to them are gone
				for _, n := range down {
					if c := connectedTo(cl, n.Addr()); c {
						return false
					}
				}
				return true
			}, 5*time.Second, 10*time.Millisecond)
			for i := range 10 {
				v, err := cl.Get(ctx, key)
				require.NoError(t, err, "read %d", i)
				assert.Equal(t, "v", v)
			}
		})
	}
}

// The same for reads in flight when the master dies: given back as its connection is lost, they
// wait in their slot's queue, which goes to the replica, and the slot's reads sent meanwhile
// behind them. (A queue waited on a probe of the master first, in a version of the fourteenth
// session: every probe to the dead master timed out, and the slot's reads with it.)
func TestReadsInFlightAtAMastersDeathGoToItsReplica(t *testing.T) {
	tc, cl, key, master := replicatedKey(t, 1)
	const n, killAt = 3000, 300
	futures := make([]*Future, 0, n)
	for i := range n {
		if i == killAt {
			require.NoError(t, tc.Kill(master))
		}
		futures = append(futures, cl.Send(Cmd("GET", key)))
		pace(500 * time.Microsecond) // the reads span the client's noticing the loss
	}
	failed := 0
	for i, f := range futures {
		v, err := f.Await()
		if err != nil {
			if failed++; failed <= 3 {
				t.Logf("read %d: %v", i, err)
			}
			continue
		}
		assert.Equal(t, "v", v.String())
	}
	assert.Zero(t, failed, "reads failed of %d", n)
}

// replicatedKey starts a cluster of 3 masters with replicas each, which do not fail over and serve
// reads while a master is down, and a client reading from replicas with a CommandTimeout of 1 s;
// it sets key, and returns once every replica of key's master has it.
func replicatedKey(t *testing.T, replicas int) (tc *testcluster.Cluster, cl *Cluster, key string, master *testcluster.Node) {
	tc = testcluster.New(t, testcluster.Options{Masters: 3, Replicas: replicas,
		ExtraConfig: []string{"cluster-replica-no-failover yes", "cluster-allow-reads-when-down yes"}})
	cl = connect(t, tc, ClusterOptions{UseReplicas: true, CommandTimeout: time.Second})
	ctx := context.Background()
	key = "down-master"
	master = tc.MasterFor(GetSlot(key))
	require.NoError(t, cl.Set(ctx, key, "v"))
	for _, r := range tc.ReplicasOf(master) {
		replica := replicaNode(t, cl, r)
		require.Eventually(t, func() bool {
			v, err := replica.Do(ctx, Cmd("GET", key))
			return err == nil && v.String() == "v"
		}, 5*time.Second, 10*time.Millisecond)
	}
	return tc, cl, key, master
}

// connectedTo reports whether cl's node at addr has a connection up.
func connectedTo(cl *Cluster, addr string) bool {
	for _, n := range cl.Nodes() {
		if n.Addr() == addr {
			return n.ref.Node.Connected()
		}
	}
	return false
}

// With UseReplicas, other replies that may say a key is missing are checked with the master as
// a Nil is: a Nil inside MGET's reply, an empty HGETALL or SMEMBERS, EXISTS or TOUCH counting
// fewer keys than it was given, 0 from a collection's size, -2 from TTL or PTTL, "none" from
// TYPE. Here every key has moved to the target of a migration the client has not seen (before,
// a replica answered for them: nils, 0, empty; and, until a review found it, -2 from TTL, "none"
// from TYPE and 0 from SCARD, LLEN, HLEN and ZCARD, each for half of the reads).
func TestReplicaMissingKeysAreCheckedWithTheMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true, TopologyRefreshInterval: -1})
	ctx := context.Background()
	const perKind = 4
	from := tc.MasterFor(40)
	to := otherMaster(tc, from)
	replicaServer := tc.ReplicasOf(from)[0]
	replica := replicaNode(t, cl, replicaServer)
	type read struct {
		slot int
		keys []string
		cmd  Command
		want string
	}
	var reads []read
	kinds := []string{"mget", "exists", "hgetall", "smembers", "ttl", "pttl", "type", "scard", "llen", "hlen", "zcard", "touch"}
	for i := range len(kinds) * perKind {
		slot := 40 + i
		a, b := keyInSlot("missing-a", slot), keyInSlot("missing-b", slot)
		require.NoError(t, cl.Set(ctx, a, "v"))
		r := read{slot: slot, keys: []string{a}}
		with := func(write Command, read Command, want string) {
			_, err := cl.Do(ctx, write)
			require.NoError(t, err)
			r.keys, r.cmd, r.want = []string{a, b}, read, want
		}
		switch i % len(kinds) {
		case 0:
			require.NoError(t, cl.Set(ctx, b, "w"))
			r.keys, r.cmd, r.want = []string{a, b}, Cmd("MGET", a, b), "[v w]"
		case 1:
			r.cmd, r.want = Cmd("EXISTS", a, a), "2"
		case 2:
			with(Cmd("HSET", b, "f", "x"), Cmd("HGETALL", b), "{f: x}")
		case 3:
			with(Cmd("SADD", b, "x"), Cmd("SMEMBERS", b), "(x)")
		case 4:
			r.cmd, r.want = Cmd("TTL", a), "-1"
		case 5:
			r.cmd, r.want = Cmd("PTTL", a), "-1"
		case 6:
			r.cmd, r.want = Cmd("TYPE", a), "string"
		case 7:
			with(Cmd("SADD", b, "x"), Cmd("SCARD", b), "1")
		case 8:
			with(Cmd("RPUSH", b, "x"), Cmd("LLEN", b), "1")
		case 9:
			with(Cmd("HSET", b, "f", "x"), Cmd("HLEN", b), "1")
		case 10:
			with(Cmd("ZADD", b, 1, "x"), Cmd("ZCARD", b), "1")
		case 11:
			r.cmd, r.want = Cmd("TOUCH", a, a), "2"
		}
		reads = append(reads, r)
	}
	for _, r := range reads { // the replica has every key before anything moves
		require.Eventually(t, func() bool {
			v, err := replica.Do(ctx, r.cmd)
			return err == nil && v.String() == r.want
		}, 5*time.Second, 10*time.Millisecond, "%v", r.cmd)
	}
	for _, r := range reads {
		require.NoError(t, tc.BeginMigration(ctx, r.slot, to))
		require.NoError(t, tc.MigrateKeys(ctx, from, to, r.keys...))
	}
	before := make(map[string]int)
	for _, k := range kinds {
		before[k] = callsOf(t, replicaServer, k)
	}
	for _, r := range reads {
		v, err := cl.Do(ctx, r.cmd)
		require.NoError(t, err, "%v", r.cmd)
		assert.Equal(t, r.want, v.String(), "%v", r.cmd)
	}
	onReplica := 0
	for _, k := range kinds {
		onReplica += callsOf(t, replicaServer, k) - before[k]
	}
	assert.Positive(t, onReplica, "reads went to the replica")
	for _, r := range reads {
		require.NoError(t, tc.FinishMigration(ctx, r.slot, to))
	}
}

// With UseReplicas, a master demoted by a manual failover (no node failed: nothing tells the
// client, until its next periodic refresh) does not serve the reads the client still sends it
// as its master's: its connection is READWRITE, and it answers MOVED, which tells the map. (Its
// connection was READONLY, as every one was: it served them as a replica, unchecked, and once
// its new master moved the key away, 19 of 20 reads returned Nil. A soak found it.)
func TestReadsOfAMasterDemotedUnseenAreNotAReplicas(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true, TopologyRefreshInterval: -1})
	ctx := context.Background()
	const slot = 100
	key := keyInSlot("demoted", slot)
	require.NoError(t, cl.Set(ctx, key, "v"))
	old := tc.MasterFor(slot)
	promoted := tc.ReplicasOf(old)[0]
	require.Eventually(t, func() bool {
		v, err := replicaNode(t, cl, promoted).Do(ctx, Cmd("GET", key))
		return err == nil && v.String() == "v"
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, tc.Failover(ctx, promoted))
	other := otherMaster(tc, promoted)
	require.NoError(t, tc.BeginMigration(ctx, slot, other))
	require.NoError(t, tc.MigrateKeys(ctx, promoted, other, key))
	require.Eventually(t, func() bool { // the demoted master has applied the move too
		n, err := old.Do(ctx, "DBSIZE")
		return err == nil && n == int64(0)
	}, 5*time.Second, 10*time.Millisecond)
	for i := range 20 {
		v, err := cl.Get(ctx, key)
		require.NoError(t, err, "read %d", i)
		require.Equal(t, "v", v, "read %d", i)
	}
	require.NoError(t, tc.FinishMigration(ctx, slot, other))
}
