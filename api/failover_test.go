package api

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// TestFailoverIsSurvived: a master is SIGKILLed; commands sent to its slots right after wait, and
// succeed once its replica is promoted and the map refreshed — within their deadline.
func TestFailoverIsSurvived(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	// Survival, not speed: a loaded machine has taken 12 s to promote the replica.
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 30 * time.Second})
	ctx := context.Background()
	const slot = 3000
	key := keyInSlot("failover", slot)
	require.NoError(t, cl.Set(ctx, key, "before"))
	victim := tc.MasterFor(slot)
	down := make(chan struct{}, 1)
	cl.OnEvent(func(e Event) {
		if e.Type == EventNodeDisconnect && e.Addr == victim.Addr() {
			select {
			case down <- struct{}{}:
			default:
			}
		}
	})

	require.NoError(t, tc.Kill(victim))
	killed := time.Now()
	// Commands written before the client saw the connection die may have run: the client cannot
	// tell, and says so. Those sent once it knows the master is down queue, then go to the
	// promoted replica: more than the node's offline queue holds (1024), the rest waiting in the
	// dispatcher's backoff.
	testwait.Recv(t, down, "the client did not see the master go down")
	futures := make([]*Future, 3000)
	for i := range futures {
		futures[i] = cl.Send(Cmd("SET", keyInSlot("failover"+strconv.Itoa(i), slot), i))
	}
	promoted, err := tc.WaitForFailover(ctx, victim)
	require.NoError(t, err)
	promotedAfter := time.Since(killed)
	for i, f := range futures {
		_, err := f.Await()
		require.NoError(t, err, "command %d sent during the failover", i)
	}
	doneAfter := time.Since(killed)
	t.Logf("promotion %s after the kill; every queued command answered %s after it",
		promotedAfter.Round(time.Millisecond), doneAfter.Round(time.Millisecond))
	// The map names the promoted master. Not always at once: in one run of 2026-11-28 it still
	// named the killed master right after the queued commands were answered (a discovery that read
	// a node's view from just before the promotion is the likely cause, not proven); the refreshes
	// that go on while a node is unreachable set it right.
	require.Eventually(t, func() bool { return cl.NodeForKey(key).Addr() == promoted.Addr() },
		5*time.Second, 20*time.Millisecond, "the map names the promoted master")
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "before", v, "the write before the kill had reached the replica")
}

// TestTryAgainIsRetried: a multi-key command whose keys are split by a migration gets TRYAGAIN
// until the migration ends; the client retries it and it succeeds.
func TestTryAgainIsRetried(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	a, b, slot, from, to := splitByMigration(t, tc, cl)
	f := cl.Send(Cmd("MGET", a, b))
	require.Eventually(t, func() bool { return errorCount(t, from, "TRYAGAIN") > 0 },
		5*time.Second, 10*time.Millisecond, "the source answered TRYAGAIN")
	assert.False(t, isDone(f), "still retrying")
	require.NoError(t, tc.MigrateKeys(ctx, from, to, b))
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
	v, err := f.Await()
	require.NoError(t, err)
	assert.Equal(t, "[1 2]", v.String())
}

func isDone(f *Future) bool {
	select {
	case <-f.Done():
		return true
	default:
		return false
	}
}

// A command that keeps getting TRYAGAIN until its command timeout fails with an error matching
// both ErrTimeout and the last server error, naming the command and the node that answered; a
// script's and a function's too.
func TestRetriesEndAtTheCommandTimeout(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1, CommandTimeout: 500 * time.Millisecond})
	a, b, _, from, _ := splitByMigration(t, tc, cl)
	ctx := context.Background()
	_, err := cl.Send(Cmd("MGET", a, b)).Await()
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, ErrTryAgain)
	assert.Contains(t, err.Error(), "MGET")
	assert.Contains(t, err.Error(), "node "+from.Addr(), "the node that answered TRYAGAIN: the source, holding one key of two")
	// Every such command fails so, unwritten as far as the caller knows: the server ran none of
	// them. (A retry written with less than CommandTimeout left was watched by its node, which
	// failed it at its deadline, even when back with the dispatcher: "written and may have run",
	// naming the last retry but one, for 5 of 100 in a review.)
	futures := make([]*Future, 40)
	for i := range futures {
		futures[i] = cl.Send(Cmd("MGET", a, b))
	}
	for _, f := range futures {
		_, err := f.Await()
		require.ErrorIs(t, err, ErrTimeout)
		assert.ErrorIs(t, err, ErrTryAgain)
		assert.False(t, WasWritten(err), "%v", err)
	}

	// So does a script, and a function (before, they returned the bare TRYAGAIN).
	_, err = NewScript("return redis.call('MGET', KEYS[1], KEYS[2])").Run(ctx, cl, []string{a, b})
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, ErrTryAgain)
	lib := NewLibrary("#!lua name=mget\nredis.register_function('mget', function(keys) return redis.call('MGET', keys[1], keys[2]) end)")
	require.NoError(t, lib.Load(ctx, cl))
	_, err = lib.Call(ctx, cl, "mget", []string{a, b})
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, ErrTryAgain)

	// A transaction's error names the command that met TRYAGAIN: its EXEC (before, the MULTI).
	// Each of its tries meets an ASK at the source, then TRYAGAIN at the target: on a loaded
	// machine the deadline may come as an ASK's reply does, which is then not followed (CI, once):
	// tried again until a TRYAGAIN is the last error.
	for try := 0; ; try++ {
		_, err = cl.Tx(ctx, Cmd("INCR", a), Cmd("INCR", b))
		require.ErrorIs(t, err, ErrTimeout)
		if !errors.Is(err, ErrTryAgain) && try < 5 {
			require.ErrorIs(t, err, ErrAsk)
			continue
		}
		require.ErrorIs(t, err, ErrTryAgain)
		assert.Contains(t, err.Error(), "MULTI ... EXEC: TRYAGAIN")
		break
	}
}

// splitByMigration stores two keys of one slot, then starts migrating the slot and moves only the
// first key: a command on both gets TRYAGAIN until the migration ends.
func splitByMigration(t *testing.T, tc *testcluster.Cluster, cl *Cluster) (a, b string, slot int, from, to *testcluster.Node) {
	t.Helper()
	ctx := context.Background()
	a, b = "{tryagain}a", "{tryagain}b"
	slot = GetSlot(a)
	require.NoError(t, cl.Set(ctx, a, "1"))
	require.NoError(t, cl.Set(ctx, b, "2"))
	from = tc.MasterFor(slot)
	to = otherMaster(tc, from)
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, a))
	return a, b, slot, from, to
}

// A slot the map gives to no node (read while slots were being reassigned) is no immediate error:
// the command is retried by newer maps until its deadline, like one that met CLUSTERDOWN, and
// succeeds once a master serves the slot again.
func TestUncoveredSlotIsRetried(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 8 * time.Second, TopologyRefreshInterval: 50 * time.Millisecond})
	ctx := context.Background()
	const slot = 1234
	key := keyInSlot("uncovered", slot)
	owner := tc.MasterFor(slot)
	// Every node forgets who serves it. A node may hear of the owner's claim again from a message
	// the owner sent before its own DELSLOTS: such a node is told again.
	require.Eventually(t, func() bool {
		unassigned := true
		for _, m := range tc.Masters() {
			if _, err := m.Do(ctx, "CLUSTER", "DELSLOTS", strconv.Itoa(slot)); err == nil {
				unassigned = false // it still had an owner for it
			}
		}
		return unassigned
	}, 10*time.Second, 50*time.Millisecond, "no node names an owner for the slot")
	require.Eventually(t, func() bool { return cl.NodeForKey(key) == nil }, 5*time.Second, 10*time.Millisecond,
		"the map has the slot served by no node")
	f := cl.Send(Cmd("SET", key, "v"))
	assert.False(t, isDone(f), "it waits for a map that routes it")
	_, err := owner.Do(ctx, "CLUSTER", "ADDSLOTS", strconv.Itoa(slot))
	require.NoError(t, err)
	_, err = f.Await()
	require.NoError(t, err)
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}
