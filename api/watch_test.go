package api

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
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
	err = cl.Watch(ctx, func(*WatchTx) error { return nil }, "{watch}n", keyInSlot("watch", 3))
	require.ErrorIs(t, err, ErrCrossSlot)
	v, err = cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "10", v)
}

// A WATCH sent by a stale map meets MOVED: it goes to the slot's new master, and the function runs
// there once.
func TestWatchFollowsTheSlot(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	ctx := context.Background()
	key := keyInSlot("watch-moved", 1)
	to := tc.Masters()[0]
	if to == tc.MasterFor(1) {
		to = tc.Masters()[1]
	}
	require.NoError(t, cl.Set(ctx, key, 5))
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
	select {
	case err := <-res:
		assert.ErrorIs(t, err, ErrClientClosed)
	case <-time.After(10 * time.Second): // a bound on a hang, not a measurement
		t.Fatal("Watch hangs after Close")
	}
	err := cl.Watch(ctx, func(*WatchTx) error { return nil }, "w")
	assert.ErrorIs(t, err, ErrClientClosed)
}
