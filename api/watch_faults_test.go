package api

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// Close while Watches wait for the one connection of the pool (or dial it) fails each with an
// error matching ErrClientClosed. (The pool's "node closed" came back bare: a review's stress
// test saw 1 to 3 such errors per Close.)
func TestWatchWaitingForItsConnectionAtClose(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{MaxBlockingConns: 1})
	ctx := context.Background()
	const watchers = 12
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	running := make(chan struct{}, watchers)
	for i := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "{wc}" + strconv.Itoa(i)
			for first := true; ; first = false {
				if err := incrWatched(ctx, cl, key, func() {}); err != nil {
					errs <- err
					return
				}
				if first {
					running <- struct{}{}
				}
			}
		}()
		require.NoError(t, cl.Set(ctx, "{wc}"+strconv.Itoa(i), 0))
	}
	for range watchers { // each has run once: they all take turns on the connection now
		<-running
	}
	require.NoError(t, cl.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, ErrClientClosed)
	}
}

// A Watch on a slot whose master has just died waits for the failover and runs on the new
// master, as a lone command or Tx would. (It failed at once with the dial's "connection refused".)
func TestWatchDuringAFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 3, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 15 * time.Second})
	ctx := context.Background()
	key := "{wfo}n"
	require.NoError(t, cl.Set(ctx, key, 1))
	require.NoError(t, tc.Kill(tc.MasterFor(GetSlot(key))))
	require.NoError(t, incrWatched(ctx, cl, key, func() {}))
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "2", v)
}

// An Exec writing a key of another master's slot meets MOVED: that is not ErrTxFailed, since the
// watched slot did not move and a new run would meet the same. (Callers retrying on ErrTxFailed
// looped: every run was refused so.)
func TestWatchExecWritingAnotherNodesKeyIsNotTxFailed(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	watched := keyInSlot("wa", 1)
	var elsewhere string
	for s := testcluster.NumSlots - 1; elsewhere == ""; s-- {
		if tc.MasterFor(s) != tc.MasterFor(1) {
			elsewhere = keyInSlot("wb", s)
		}
	}
	for range 2 {
		err := cl.Watch(ctx, func(tx *WatchTx) error {
			_, err := tx.Exec(ctx, Cmd("SET", elsewhere, "x"))
			return err
		}, watched)
		require.ErrorIs(t, err, ErrExecAbort)
		assert.ErrorIs(t, err, ErrMoved)
		assert.NotErrorIs(t, err, ErrTxFailed)
	}
}

// A connection lost before EXEC is written ran nothing, and Exec's error says so: WasWritten is
// false. (It said the MULTI "may have run", which led callers not to retry a transaction that
// had not.)
func TestWatchExecOnALostConnectionRanNothing(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	key := "{wl}n"
	require.NoError(t, cl.Set(ctx, key, 1))
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		id, err := tx.Do(ctx, Cmd("CLIENT", "ID"))
		require.NoError(t, err)
		_, err = tc.MasterFor(GetSlot(key)).Do(ctx, "CLIENT", "KILL", "ID", id.String())
		require.NoError(t, err)
		_, err = tx.Exec(ctx, Cmd("INCR", key))
		return err
	}, key)
	require.ErrorIs(t, err, ErrConnection)
	assert.False(t, WasWritten(err), "%v", err)
	assert.Contains(t, err.Error(), "transaction")
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "1", v, "the transaction did not run")
}

// EXEC itself refused for a migration (a queued key left for the target between its QUEUED and
// the EXEC: ASK) matches ErrExecAbort, as a refusal at queueing does, and is not ErrTxFailed.
func TestWatchExecRefusedByAMigrationIsExecAbort(t *testing.T) {
	const slot = 1234
	tc, cl, flag, from, to := slotOnTheMove(t, "wm", slot, 1)
	ctx := context.Background()
	data := keyInSlot("wmdata", slot)
	require.NoError(t, cl.Set(ctx, data, "v"))
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	// The queue is long, a round trip a command: data leaves once the connection is in MULTI.
	queue := []Command{Cmd("GET", data)}
	for range 3000 {
		queue = append(queue, Cmd("ECHO", "x"))
	}
	migrated := make(chan error, 1)
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		id, err := tx.Do(ctx, Cmd("CLIENT", "ID"))
		require.NoError(t, err)
		go func() {
			migrated <- func() error {
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					l, err := from.Do(ctx, "CLIENT", "LIST", "ID", id.String())
					if err != nil {
						return err
					}
					if line, _ := l.(string); strings.Contains(line, "cmd=echo") {
						return tc.MigrateKeys(ctx, from, to, data)
					}
					time.Sleep(time.Millisecond)
				}
				return errors.New("the transaction never queued an ECHO")
			}()
		}()
		_, err = tx.Exec(ctx, queue...)
		return err
	}, flag)
	require.NoError(t, <-migrated)
	require.ErrorIs(t, err, ErrExecAbort)
	assert.ErrorIs(t, err, ErrAsk)
	assert.NotErrorIs(t, err, ErrTxFailed)
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
}
