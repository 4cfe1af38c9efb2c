package api

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// incrWatched adds one to key with a check-and-set: read under WATCH, write in EXEC. between runs
// in the middle, after the read.
func incrWatched(ctx context.Context, cl *Cluster, key string, between func()) error {
	return cl.Watch(ctx, func(tx *WatchTx) error {
		v, err := tx.Do(ctx, Cmd("GET", key))
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v.String())
		if err != nil {
			return err
		}
		between()
		_, err = tx.Exec(ctx, Cmd("SET", key, n+1))
		return err
	}, key)
}

// Watch's check-and-set writes when nothing changed since WATCH, and writes nothing (ErrTxFailed)
// when another client changed the key meanwhile. Each Watch gives its connection back: with a pool
// of one, a connection kept would leave the next Watch waiting, then failing.
func TestWatchChecksAndSets(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{MaxBlockingConns: 1})
	ctx := context.Background()
	key := "{watch}n"
	require.NoError(t, cl.Set(ctx, key, 1))
	require.NoError(t, incrWatched(ctx, cl, key, func() {}))
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "2", v)

	err = incrWatched(ctx, cl, key, func() { require.NoError(t, cl.Set(ctx, key, 10)) })
	require.ErrorIs(t, err, ErrTxFailed)
	v, err = cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "10", v, "the transaction wrote nothing")

	err = cl.Watch(ctx, func(tx *WatchTx) error {
		_, err := tx.Exec(ctx, Cmd("SET", key, 1), Cmd("SET", key))
		return err
	}, key)
	require.ErrorIs(t, err, ErrExecAbort)
	assert.Contains(t, err.Error(), "command 2, SET")
	assert.Contains(t, err.Error(), "node "+tc.MasterFor(GetSlot(key)).Addr()+": transaction", "it names the node")
	err = cl.Watch(ctx, func(*WatchTx) error { return nil }, "{watch}n", keyInSlot("watch", 3))
	require.ErrorIs(t, err, ErrCrossSlot)
	v, err = cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "10", v)
}

// A WATCH sent by a stale map meets MOVED: it goes to the slot's new master, and the function runs
// there once.
func TestWatchFollowsTheSlot(t *testing.T) {
	tc, cl, key, _, to := slotOnTheMove(t, "watch-moved", 1, 5)
	ctx := context.Background()
	require.NoError(t, tc.MigrateSlot(ctx, 1, to))
	runs := 0
	require.NoError(t, incrWatched(ctx, cl, key, func() { runs++ }))
	assert.Equal(t, 1, runs)
	assert.Equal(t, 1, callsOf(t, to, "exec"))
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "6", v)
}

// A Watch under way when the client closes fails with an error matching ErrClientClosed, as every
// command Close interrupts does.
func TestWatchInterruptedByClose(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	inFn, closed, res := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		res <- cl.Watch(ctx, func(tx *WatchTx) error {
			close(inFn)
			<-closed
			_, err := tx.Exec(ctx, Cmd("SET", "w", "1"))
			return err
		}, "w")
	}()
	<-inFn
	require.NoError(t, cl.Close())
	close(closed)
	assert.ErrorIs(t, testwait.Recv(t, res, "Watch hangs after Close"), ErrClientClosed)
	err := cl.Watch(ctx, func(*WatchTx) error { return nil }, "w")
	assert.ErrorIs(t, err, ErrClientClosed)
}

// With UseReplicas, a master demoted by a failover the map has not seen answers the WATCH with
// MOVED (its node started as a master, so its connections are READWRITE): Watch follows it to the
// new master before fn runs, and the first run succeeds. (Every run went back to the demoted
// master until the next refresh: 20 of 20 failed; later, when every connection was READONLY, a
// run or two failed with ErrTxFailed first.)
func TestWatchAfterAFailoverTheMapMissed(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true, TopologyRefreshInterval: -1})
	ctx := context.Background()
	key := "{wf}n"
	require.NoError(t, cl.Set(ctx, key, 1))
	old := tc.Masters()[0]
	require.NoError(t, tc.Failover(ctx, tc.ReplicasOf(old)[0]))
	require.NoError(t, incrWatched(ctx, cl, key, func() {}))
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "2", v)
}

// A slot being migrated whose watched key is gone to the target: the WATCH meets ASK and waits for
// the migration to end, then runs on the new master, where every key of the slot is. (It ran on
// the target at once, each command after ASKING: a key still on the source read as missing there,
// and the write made a second copy that stopped the migration with BUSYKEY.)
func TestWatchWaitsForAMigration(t *testing.T) {
	tc, cl, flag, data, from, to := midMigration(t, "{wm}", "flag")
	ctx := context.Background()
	slot := GetSlot(flag)
	asks := errorCount(t, from, "ASK")
	done := make(chan error, 1)
	var read string
	go func() {
		done <- cl.Watch(ctx, func(tx *WatchTx) error {
			v, err := tx.Do(ctx, Cmd("GET", data))
			if err != nil {
				return err
			}
			read = v.String()
			_, err = tx.Exec(ctx, Cmd("SET", data, read+"+new"))
			return err
		}, flag)
	}()
	require.Eventually(t, func() bool { return errorCount(t, from, "ASK") > asks }, 5*time.Second, 5*time.Millisecond,
		"the WATCH met ASK")
	require.NoError(t, tc.MigrateKeys(ctx, from, to, data), "no second copy stands in the way")
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
	require.NoError(t, <-done)
	assert.Equal(t, "orig", read)
	assert.Equal(t, 1, callsOf(t, to, "exec"), "run on the new master")
	v, err := cl.Get(ctx, data)
	require.NoError(t, err)
	assert.Equal(t, "orig+new", v)
}

// Watch takes its connection from the blocking pool: a full pool fails it with ErrBlockingPoolFull
// after CommandTimeout, and each command in it is bounded by CommandTimeout too.
func TestWatchIsBounded(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{MaxBlockingConns: 1, CommandTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	entered, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- cl.Watch(ctx, func(*WatchTx) error {
			close(entered)
			<-release
			return nil
		}, "{full}a")
	}()
	<-entered
	err := cl.Watch(ctx, func(*WatchTx) error { return nil }, "{full}b")
	require.ErrorIs(t, err, ErrBlockingPoolFull)
	close(release)
	require.NoError(t, <-held)

	master := tc.MasterFor(GetSlot("{pause}k"))
	err = cl.Watch(ctx, func(tx *WatchTx) error {
		_, err := master.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL")
		require.NoError(t, err)
		_, err = tx.Do(ctx, Cmd("GET", "{pause}k"))
		return err
	}, "{pause}k")
	require.ErrorIs(t, err, ErrTimeout)
	assert.True(t, WasWritten(err))
}

// A WATCH that keeps meeting a migration gives up at CommandTimeout with ErrTimeout, naming the
// last redirect, and fn never runs.
func TestWatchGivesUpOnAMigrationThatLasts(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	key := keyInSlot("watch-stuck", 9)
	require.NoError(t, tc.BeginMigration(ctx, 9, otherMaster(tc, tc.MasterFor(9)))) // key on neither: ASK
	ran := false
	err := cl.Watch(ctx, func(*WatchTx) error { ran = true; return nil }, key)
	require.ErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, ErrAsk)
	assert.False(t, ran)
}

// A Watch whose master stops answering fails with ErrTimeout at CommandTimeout, whether its
// connection was idle in the pool or is dialled. (With an idle one it failed with the context's
// DeadlineExceeded, as if the caller's own ctx had ended.)
func TestWatchOnAStalledMasterTimesOut(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	key := "{stall}k"
	require.NoError(t, cl.Set(ctx, key, 1))
	require.NoError(t, incrWatched(ctx, cl, key, func() {})) // leaves an idle dedicated connection
	_, err := tc.MasterFor(GetSlot(key)).Do(ctx, "CLIENT", "PAUSE", "1500", "ALL")
	require.NoError(t, err)
	err = cl.Watch(ctx, func(*WatchTx) error { return nil }, key)
	require.ErrorIs(t, err, ErrTimeout)
	err = cl.Watch(ctx, func(*WatchTx) error { return nil }, key) // the broken one is gone: a dial
	require.ErrorIs(t, err, ErrTimeout)
}

// An Exec refused because a key it writes has left for the target of a migration (ASK) is not
// ErrTxFailed: running Watch again would meet the same until the migration ends. (Callers retrying
// on ErrTxFailed spun: 1,388 runs in 300 ms.)
func TestWatchExecMeetingAMigrationIsNotTxFailed(t *testing.T) {
	tc, cl, flag, data, _, to := midMigration(t, "{wx}", "data")
	ctx := context.Background()
	slot := GetSlot(flag)
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		_, err := tx.Exec(ctx, Cmd("INCR", flag), Cmd("SET", data, "new"))
		return err
	}, flag)
	require.ErrorIs(t, err, ErrExecAbort)
	assert.ErrorIs(t, err, ErrAsk)
	assert.NotErrorIs(t, err, ErrTxFailed)
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
}
