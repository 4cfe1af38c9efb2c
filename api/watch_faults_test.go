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
	"github.com/actoredis/actoredis/resp"
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
		// Set before its watcher starts: a SET while it watches the key fails its EXEC
		// (ErrTxFailed), as CI once saw.
		require.NoError(t, cl.Set(ctx, "{wc}"+strconv.Itoa(i), 0))
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
	}
	for range watchers { // each has run once: they all take turns on the connection now
		select {
		case <-running:
		case err := <-errs:
			require.FailNow(t, "a watcher failed before Close", "%v", err)
		case <-time.After(30 * time.Second):
			require.FailNow(t, "the watchers did not all run")
		}
	}
	require.NoError(t, cl.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, ErrClientClosed)
	}
}

// Close while a Watch waits out a migration (its WATCH met ASK, and it waits a backoff before
// trying again) fails it with ErrClientClosed at once. It heard of Close only when its pause
// ended, up to 1.5 s later (a review saw 75 ms to 1.45 s), where a call waiting in the
// dispatcher hears of it within a few milliseconds.
func TestWatchWaitingOutAMigrationHearsClose(t *testing.T) {
	_, cl, flag, _, from, _ := midMigration(t, "{wx}", "flag")
	ctx := context.Background()
	asks := errorCount(t, from, "ASK")
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		err := cl.Watch(ctx, func(*WatchTx) error { return nil }, flag)
		done <- result{err, time.Now()}
	}()
	// After its seventh ASK the Watch pauses for 0.5 to 1.5 s (dispatcher.Backoff(7)).
	require.Eventually(t, func() bool { return errorCount(t, from, "ASK") >= asks+7 }, 5*time.Second, time.Millisecond,
		"the WATCH met ASK seven times")
	closed := time.Now()
	require.NoError(t, cl.Close())
	r := <-done
	require.ErrorIs(t, r.err, ErrClientClosed)
	assert.ErrorContains(t, r.err, "ASK", "the last error is kept")
	assert.Less(t, r.at.Sub(closed), 250*time.Millisecond, "the Watch heard of Close late: %v", r.err)
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

// A WatchTx.Do of a key another master serves meets MOVED: the error names the node and the
// command, and matches ErrCrossSlot as well as the MOVED; a key of another slot the watched node
// serves is read. (The bare MOVED reached the caller, naming neither.)
func TestWatchDoOfAnotherNodesKeyIsCrossSlot(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	watched, near := keyInSlot("wa", 1), keyInSlot("wn", 2)
	require.Same(t, tc.MasterFor(1), tc.MasterFor(2))
	var elsewhere string
	for s := testcluster.NumSlots - 1; elsewhere == ""; s-- {
		if tc.MasterFor(s) != tc.MasterFor(1) {
			elsewhere = keyInSlot("wb", s)
		}
	}
	require.NoError(t, cl.Set(ctx, near, "n"))
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		v, err := tx.Do(ctx, Cmd("GET", near))
		require.NoError(t, err)
		assert.Equal(t, "n", v.String())
		_, err = tx.Do(ctx, Cmd("GET", elsewhere))
		return err
	}, watched)
	require.ErrorIs(t, err, ErrCrossSlot)
	assert.ErrorIs(t, err, ErrMoved)
	var se *resp.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "MOVED", se.Prefix, "errors.As finds the server's reply")
	assert.Contains(t, err.Error(), "node "+tc.MasterFor(1).Addr()+": GET: ")
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

// longQueue is cmds and 3000 ECHOs after them: an Exec of it lasts a round trip a command.
func longQueue(cmds ...Command) []Command {
	for range 3000 {
		cmds = append(cmds, Cmd("ECHO", "x"))
	}
	return cmds
}

// whileQueuing runs do once the connection of tx, on server n, is queuing ECHOs of a longQueue
// (in MULTI, before its EXEC), and sends what do returns on the channel.
func whileQueuing(ctx context.Context, t *testing.T, tx *WatchTx, n *testcluster.Node, do func() error) <-chan error {
	id, err := tx.Do(ctx, Cmd("CLIENT", "ID"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				l, err := n.Do(ctx, "CLIENT", "LIST", "ID", id.String())
				if err != nil {
					return err
				}
				if line, _ := l.(string); strings.Contains(line, "cmd=echo") {
					return do()
				}
				time.Sleep(time.Millisecond)
			}
			return errors.New("the transaction never queued an ECHO")
		}()
	}()
	return done
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
	var migrated <-chan error
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		migrated = whileQueuing(ctx, t, tx, from, func() error { return tc.MigrateKeys(ctx, from, to, data) })
		_, err := tx.Exec(ctx, longQueue(Cmd("GET", data))...)
		return err
	}, flag)
	require.NoError(t, <-migrated)
	require.ErrorIs(t, err, ErrExecAbort)
	assert.ErrorIs(t, err, ErrAsk)
	assert.Contains(t, err.Error(), "node "+from.Addr()+": transaction", "it names the node")
	assert.NotErrorIs(t, err, ErrTxFailed)
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
}

// EXEC itself refused because the watched slot moved while the transaction was queued (MOVED) is
// ErrTxFailed, matching the MOVED, and not ErrExecAbort: a new run goes where the slot went.
// (After the change that made an EXEC's own refusal ErrExecAbort, it matched both, which say
// opposite things; a review found it.)
func TestWatchedSlotMovedAtExecIsTxFailedOnly(t *testing.T) {
	const slot = 3456
	tc, cl, key, from, to := slotOnTheMove(t, "wx", slot, 1)
	ctx := context.Background()
	var migrated <-chan error
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		migrated = whileQueuing(ctx, t, tx, from, func() error { return tc.MigrateSlot(ctx, slot, to) })
		_, err := tx.Exec(ctx, longQueue(Cmd("SET", key, "x"))...)
		return err
	}, key)
	require.NoError(t, <-migrated)
	require.ErrorIs(t, err, ErrTxFailed)
	assert.ErrorIs(t, err, ErrMoved)
	assert.NotErrorIs(t, err, ErrExecAbort)
	require.NoError(t, incrWatched(ctx, cl, key, func() {}), "a new run goes to the new master")
}

// A WatchTx whose command failed as it waited (here its ctx ended during a BLPOP) runs no more:
// Exec fails with ErrConnection, unsent, naming the node and the command, and the key is
// unchanged. (It failed with ErrNodeGone, "node left the cluster", though the node had not.)
func TestWatchAfterABrokenCommandIsAConnectionError(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const key = "{broken}k"
	require.NoError(t, cl.Set(ctx, key, 1))
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		defer stop()
		_, err := tx.Do(short, Cmd("BLPOP", "{broken}list", 5))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, err = tx.Exec(ctx, Cmd("SET", key, 2))
		return err
	}, key)
	require.ErrorIs(t, err, ErrConnection)
	assert.NotErrorIs(t, err, ErrNodeGone)
	assert.False(t, WasWritten(err), "not sent")
	assert.ErrorContains(t, err, tc.Addrs()[0])
	assert.ErrorContains(t, err, "MULTI")
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "1", v)
}

// While the cluster is down (CLUSTERDOWN: here a slot served by no one, as while a failed master
// waits for its replica's promotion), a command of a Watch is sent again until the cluster is
// back, as other commands are, and an Exec refused for it fails with ErrTxFailed (matching the
// CLUSTERDOWN), not ErrExecAbort: a new run of Watch waits for the cluster. (The command returned
// the CLUSTERDOWN, and Exec ErrExecAbort, whose doc says a new run would meet the same.)
func TestWatchThroughClusterDown(t *testing.T) {
	const key = "{down}k"
	cl, ctx, down := outage(t, key, 10*time.Second, 60*time.Second)
	owner, other, gone := down.owner, down.other, down.slot
	takeSlot := func() { down.take(ctx) }
	giveBack := func() { down.giveBack(ctx) }
	require.NoError(t, cl.Set(ctx, key, "1"))

	// A read of fn's: sent again until the cluster is back, given back once the owner has refused
	// it at least once.
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		takeSlot()
		refused := errorCount(t, owner, "CLUSTERDOWN") // takeSlot's own probes counted
		back := make(chan error, 1)
		go func() { // polls the server's count of refusals: there is no event to await
			for {
				n, err := owner.InfoCount(ctx, "errorstats", "errorstat_CLUSTERDOWN", "count")
				if err != nil || n > refused {
					if err == nil {
						_, err = other.Do(ctx, "CLUSTER", "ADDSLOTS", strconv.Itoa(gone))
					}
					back <- err
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		v, err := tx.Do(ctx, Cmd("GET", key))
		require.NoError(t, <-back, "the slot given back")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, Cmd("SET", key, v.String()+"1"))
		return err
	}, key)
	require.NoError(t, err, "the read waited for the cluster")
	require.NoError(t, down.tc.WaitForReady(ctx))
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "11", v)

	// Exec refused for it: ErrTxFailed, nothing ran.
	err = cl.Watch(ctx, func(tx *WatchTx) error {
		if _, err := tx.Do(ctx, Cmd("GET", key)); err != nil {
			return err
		}
		takeSlot()
		_, err := tx.Exec(ctx, Cmd("SET", key, "x"))
		return err
	}, key)
	giveBack()
	require.ErrorIs(t, err, ErrTxFailed)
	assert.ErrorIs(t, err, ErrClusterDown)
	assert.NotErrorIs(t, err, ErrExecAbort)
	assert.ErrorContains(t, err, owner.Addr())
	require.NoError(t, down.tc.WaitForReady(ctx))
	v, err = cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "11", v, "nothing ran")
}

// A script's own CLUSTERDOWN is its reply, in a Watch too: not sent again (it ran 7 times in one
// tx.Do). And a ctx that ends while a command waits for the cluster ends it with the ctx's error
// (the CLUSTERDOWN came back alone).
func TestWatchClusterDownResendsOnlyTheServers(t *testing.T) {
	const key = "{own-down}k"
	cl, ctx, down := outage(t, key, 2*time.Second, 30*time.Second)
	script := `redis.call('INCR', KEYS[1]) return redis.error_reply('CLUSTERDOWN mine, not the server')`
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		_, err := tx.Do(ctx, Cmd("EVAL", script, 1, key))
		return err
	}, key)
	require.ErrorIs(t, err, ErrClusterDown)
	assert.NotErrorIs(t, err, ErrTimeout)
	v, err := cl.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "1", v, "the script ran once")

	err = cl.Watch(ctx, func(tx *WatchTx) error {
		down.take(ctx)
		short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
		defer stop()
		_, err := tx.Do(short, Cmd("GET", key))
		return err
	}, key)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrClusterDown, "the last error met")
	down.giveBack(ctx)
	require.NoError(t, down.tc.WaitForReady(ctx))
}

// clusterDown takes a slot away from the cluster, so that every node answers CLUSTERDOWN, as while
// a failed master waits for its replica's promotion, and gives it back.
type clusterDown struct {
	t            *testing.T
	tc           *testcluster.Cluster
	key          string
	owner, other *testcluster.Node // the key's master; the master of the slot taken away
	slot         int
}

// clusterDownFor picks the slot: the first served by a master other than key's.
// outage starts a cluster of 3 masters and a client with commandTimeout, and returns the client,
// a ctx ending after bound, and the outage that can take key's cluster down (see clusterDownFor).
func outage(t *testing.T, key string, commandTimeout, bound time.Duration) (*Cluster, context.Context, *clusterDown) {
	t.Helper()
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: commandTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	t.Cleanup(cancel)
	return cl, ctx, clusterDownFor(t, tc, key)
}

func clusterDownFor(t *testing.T, tc *testcluster.Cluster, key string) *clusterDown {
	d := &clusterDown{t: t, tc: tc, key: key, owner: tc.MasterFor(GetSlot(key))}
	for tc.MasterFor(d.slot) == d.owner {
		d.slot++
	}
	d.other = tc.MasterFor(d.slot)
	return d
}

// take makes every master forget the slot, and waits until the key's master says the cluster is
// down. A master that learns the slot back from gossip sent before it was forgotten (CI run 80: the
// owner never said down in 10 s) is told to forget it again, once a second.
func (d *clusterDown) take(ctx context.Context) {
	forget := func() (err error) {
		for _, n := range d.tc.Masters() {
			if _, e := n.Do(ctx, "CLUSTER", "DELSLOTS", strconv.Itoa(d.slot)); e != nil && err == nil {
				err = e // again, most masters say it is already unassigned
			}
		}
		return err
	}
	require.NoError(d.t, forget())
	last := time.Now()
	require.Eventually(d.t, func() bool {
		_, err := d.owner.Do(ctx, "GET", d.key)
		if err != nil && strings.Contains(err.Error(), "CLUSTERDOWN") {
			return true
		}
		if time.Since(last) > time.Second {
			_ = forget()
			last = time.Now()
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the owner says the cluster is down")
}

// giveBack gives the slot back to its master.
func (d *clusterDown) giveBack(ctx context.Context) {
	_, err := d.other.Do(ctx, "CLUSTER", "ADDSLOTS", strconv.Itoa(d.slot))
	require.NoError(d.t, err)
}

// A blocking command of a Watch that the server lets go of with CLUSTERDOWN, after blocking longer
// than CommandTimeout, is sent again, twice here: the time the server held it does not count
// towards CommandTimeout. (Its bound ran from the first send, then from the first CLUSTERDOWN,
// the time held included: it failed with ErrTimeout, though a BLPOP 0 waits as long as its ctx.)
func TestWatchBlockedCommandLetGoByClusterDown(t *testing.T) {
	const key = "{blk-down}list"
	// CommandTimeout bounds the two outages together (the server held the BLPOP meanwhile): 3 s
	// leaves room for the cluster's recovery after each under load.
	cl, ctx, down := outage(t, key, 3*time.Second, 30*time.Second)
	blocked := func(want bool) error { // polls the server: there is no event to await
		for {
			n, err := down.owner.BlockedClients(ctx)
			if err != nil || (n > 0) == want {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	letGo := func() error { // once the BLPOP has blocked longer than CommandTimeout
		if err := blocked(true); err != nil {
			return err
		}
		time.Sleep(3500 * time.Millisecond) // the scenario: blocked past CommandTimeout
		for _, n := range down.tc.Masters() {
			if _, err := n.Do(ctx, "CLUSTER", "DELSLOTS", strconv.Itoa(down.slot)); err != nil {
				return err
			}
		}
		if err := blocked(false); err != nil { // let go of with CLUSTERDOWN
			return err
		}
		_, err := down.other.Do(ctx, "CLUSTER", "ADDSLOTS", strconv.Itoa(down.slot))
		return err
	}
	bg := make(chan error, 1)
	go func() {
		bg <- func() error {
			for range 2 {
				if err := letGo(); err != nil {
					return err
				}
			}
			for { // pushed once the cluster is back
				if _, err := down.owner.Do(ctx, "LPUSH", key, "v"); err == nil || ctx.Err() != nil {
					return err
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}()
	var got string
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		v, err := tx.Do(ctx, Cmd("BLPOP", key, 0))
		if err == nil {
			got = v.Index(1).String()
		}
		return err
	}, key)
	require.NoError(t, <-bg)
	require.NoError(t, err, "sent again after each CLUSTERDOWN")
	assert.Equal(t, "v", got)
	require.NoError(t, down.tc.WaitForReady(ctx))
}

// A blocking command or a Watch that gives up on a cluster that stays down names the node whose
// CLUSTERDOWN was the last error, as other commands' errors do. (Both gave the server's reply bare:
// "BLPOP: ... timed out after 5 retries; last error: CLUSTERDOWN The cluster is down".)
func TestGivingUpOnClusterDownNamesTheNode(t *testing.T) {
	const key = "{down}k"
	cl, ctx, down := outage(t, key, 300*time.Millisecond, 30*time.Second)
	down.take(ctx)
	defer down.giveBack(ctx)

	_, err := cl.Do(ctx, Cmd("BLPOP", "{down}list", 1))
	require.ErrorIs(t, err, ErrTimeout, "BLPOP")
	require.ErrorIs(t, err, ErrClusterDown, "BLPOP")
	assert.ErrorContains(t, err, "node "+down.owner.Addr()+": BLPOP: CLUSTERDOWN")

	err = cl.Watch(ctx, func(*WatchTx) error { return nil }, key)
	require.ErrorIs(t, err, ErrTimeout, "Watch")
	require.ErrorIs(t, err, ErrClusterDown, "Watch")
	assert.ErrorContains(t, err, "node "+down.owner.Addr()+": WATCH: CLUSTERDOWN")
}
