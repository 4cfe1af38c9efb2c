package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// A transaction's replies come back in order, a command failing as it runs keeps its error in
// its place while the others run, and a transaction the server refuses whole runs nothing and
// names the command it refused.
func TestTxRepliesAndRefusals(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	replies, err := cl.Tx(ctx, Cmd("SET", "{tx}a", 1), Cmd("INCR", "{tx}a"), Cmd("LPUSH", "{tx}a", "x"), Cmd("GET", "{tx}a"))
	require.NoError(t, err)
	require.Len(t, replies, 4)
	assert.Equal(t, "OK", replies[0].String())
	assert.Equal(t, int64(2), mustInt(t, replies[1]))
	assert.ErrorIs(t, replies[2].Err(), ErrWrongType)
	assert.Equal(t, "2", replies[3].String())

	_, err = cl.Tx(ctx, Cmd("INCR", "{tx}a"), Cmd("GET", "{tx}a", "extra"))
	require.ErrorIs(t, err, ErrExecAbort)
	assert.ErrorIs(t, err, resp.ErrGeneric, "the refused command's own error")
	assert.Contains(t, err.Error(), "command 2, GET")
	assert.Contains(t, err.Error(), "node "+tc.MasterFor(GetSlot("{tx}a")).Addr()+": transaction", "it names the node")
	v, err := cl.Get(ctx, "{tx}a")
	require.NoError(t, err)
	assert.Equal(t, "2", v, "nothing ran")

	_, err = cl.Tx(ctx, Cmd("SET", keyInSlot("tx", 1), 1), Cmd("SET", keyInSlot("tx", 2), 1))
	require.ErrorIs(t, err, ErrCrossSlot)
	replies, err = cl.Tx(ctx)
	require.NoError(t, err)
	assert.Empty(t, replies)
}

// A transaction for a slot that moved meets MOVED while queuing: it ran nothing, and runs once,
// whole, on the slot's new master.
func TestTxFollowsMoved(t *testing.T) {
	tc, cl, key, from, to := slotOnTheMove(t, "tx-moved", 1, 10)
	ctx := context.Background()
	require.NoError(t, tc.MigrateSlot(ctx, 1, to))
	replies, err := cl.Tx(ctx, Cmd("INCR", key), Cmd("INCR", key))
	require.NoError(t, err)
	assert.Equal(t, int64(11), mustInt(t, replies[0]))
	assert.Equal(t, int64(12), mustInt(t, replies[1]))
	assert.Equal(t, 1, callsOf(t, to, "exec"), "run once, on the new master")
	assert.Equal(t, 0, callsOf(t, from, "incr"))
}

// A transaction for a slot being migrated, whose key has left already, meets ASK: it runs, whole,
// on the target, after ASKING (which holds through MULTI until EXEC).
func TestTxFollowsAsk(t *testing.T) {
	tc, cl, key, from, to := slotOnTheMove(t, "tx-ask", 1, 10)
	ctx := context.Background()
	require.NoError(t, tc.BeginMigration(ctx, 1, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, key))
	replies, err := cl.Tx(ctx, Cmd("INCR", key), Cmd("GET", key))
	require.NoError(t, err)
	assert.Equal(t, int64(11), mustInt(t, replies[0]))
	assert.Equal(t, "11", replies[1].String())
	assert.Equal(t, 1, callsOf(t, to, "exec"), "run on the target")
	assert.Equal(t, 1, callsOf(t, to, "asking"))
	require.NoError(t, tc.FinishMigration(ctx, 1, to))
}

// Commands that would end the transaction halfway, or open another, are refused before anything
// is sent (what followed them ran outside it), and so are those that act on one node only.
func TestTxRefusesWhatWouldBreakIt(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	const key = "{txctl}n"
	require.NoError(t, cl.Set(ctx, key, 0))
	for _, first := range []Command{Cmd("WATCH", key), Cmd("DISCARD"), Cmd("EXEC"), Cmd("multi")} {
		_, err := cl.Tx(ctx, first, Cmd("INCR", key))
		require.ErrorIs(t, err, ErrUnsupportedCommand, "%v", first.args)
	}
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		_, err := tx.Do(ctx, Cmd("MULTI"))
		require.ErrorIs(t, err, ErrUnsupportedCommand)
		_, err = tx.Exec(ctx, Cmd("WATCH", key), Cmd("INCR", key))
		return err
	}, key)
	require.ErrorIs(t, err, ErrUnsupportedCommand)
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "0", v, "nothing ran")
	for _, local := range []Command{Cmd("DBSIZE"), Cmd("KEYS", "*"), Cmd("FLUSHALL")} {
		_, err := cl.Tx(ctx, Cmd("INCR", key), local)
		require.ErrorIs(t, err, ErrNodeCommand, "%v", local.args)
	}
	v, err = cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "0", v, "nothing ran")
}

// A user whose ACL denies MULTI: the server queues nothing, and the commands run on their own. Tx
// says so (ErrMultiRefused, WasWritten) with their replies, and does not send them again.
func TestTxWithMultiDenied(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas, Password: "adminpw",
		Users: []testcluster.User{{Name: "rw", Password: "pw", Rules: []string{"on", "~*", "&*",
			"+@read", "+@write", "+@connection", "+cluster", "+command"}}}})
	cl := connect(t, tc, ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://rw:pw@" + tc.Addrs()[0]}}})
	ctx := context.Background()
	const key = "{txacl}n"
	require.NoError(t, cl.Set(ctx, key, 0))
	replies, err := cl.Tx(ctx, Cmd("INCR", key), Cmd("INCR", key))
	require.ErrorIs(t, err, ErrMultiRefused)
	assert.ErrorIs(t, err, ErrNoPerm)
	assert.True(t, WasWritten(err))
	assert.Contains(t, err.Error(), "node "+tc.MasterFor(GetSlot(key)).Addr()+": transaction", "it names the node")
	require.Len(t, replies, 2)
	assert.Equal(t, int64(2), mustInt(t, replies[1]))
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "2", v, "each ran once")
}

// A transaction whose keys a migration has split (one gone to the target, one still on the
// source) reads the key that was still on the source: the source refuses it (a queued command met
// ASK: EXECABORT), the client follows the ASK, and the target refuses the EXEC under ASKING with
// TRYAGAIN (a multi-key request with keys missing) until that key has moved too.
func TestTxWaitsForAMigrationThatSplitsIt(t *testing.T) {
	tc, cl, flag, data, from, to := midMigration(t, "{txm}", "flag")
	ctx := context.Background()
	slot := GetSlot(flag)
	type result struct {
		replies []resp.Value
		err     error
	}
	done := make(chan result, 1)
	go func() {
		replies, err := cl.Tx(ctx, Cmd("GET", data), Cmd("INCR", flag))
		done <- result{replies, err}
	}()
	require.Eventually(t, func() bool { return errorCount(t, from, "ASK") > 0 }, 5*time.Second, 5*time.Millisecond,
		"the transaction met the migration")
	require.NoError(t, tc.MigrateKeys(ctx, from, to, data))
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, "orig", r.replies[0].String(), "the key still on the source was read")
	assert.Equal(t, int64(2), mustInt(t, r.replies[1]))
}

// A transaction with a keyless command beside a key that has moved to the target of a migration
// follows the ASK: on the target it finds its key. (Counting the keyless command's QUEUED as a
// key left on the source made it wait out the migration, and time out.)
func TestTxWithAKeylessCommandFollowsAsk(t *testing.T) {
	slot := GetSlot("{txk}")
	tc, cl, moved, from, to := slotOnTheMove(t, "{txk}moved", slot, 1)
	ctx := context.Background()
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, moved))
	replies, err := cl.Tx(ctx, Cmd("INCR", moved), Cmd("PING"))
	require.NoError(t, err)
	assert.Equal(t, int64(2), mustInt(t, replies[0]))
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
}
