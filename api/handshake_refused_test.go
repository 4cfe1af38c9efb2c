package api

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// appUser is an ACL user allowed everything, whose rules or password a test then changes on
// the servers.
var appUser = []testcluster.User{{Name: "app", Password: "pw", Rules: []string{"on", "~*", "&*", "+@all"}}}

// connectAsApp connects to tc as appUser.
func connectAsApp(t *testing.T, tc *testcluster.Cluster, opts ClusterOptions) *Cluster {
	t.Helper()
	opts.Defaults = NodeOptions{Username: "app", Password: "pw"}
	return connect(t, tc, opts)
}

// refuseApp makes n refuse appUser's new connections (its password changed) and drops its
// connections there, so that the client dials n again and meets WRONGPASS. It returns the count
// of WRONGPASS n had answered before.
func refuseApp(t *testing.T, n *testcluster.Node) int {
	t.Helper()
	ctx := context.Background()
	before := errorCount(t, n, "WRONGPASS")
	_, err := n.Do(ctx, "ACL", "SETUSER", "app", "resetpass", ">other")
	require.NoError(t, err)
	_, err = n.Do(ctx, "CLIENT", "KILL", "USER", "app")
	require.NoError(t, err)
	return before
}

// A replica whose new connection is refused READONLY (the user's permission revoked) leaves its
// reads to the master: none fails. (The reads queued at the replica while it dialled failed with
// the refusal, "connection failed before it was written": a review saw 1 of 1,600 GETs fail in
// each of three runs, the master up throughout. The handshake's server error, inside the
// connection's, was taken for the command's reply, which is not retried.)
func TestReadsPassOverAReplicaRefusingReadOnly(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Users: appUser})
	cl := connectAsApp(t, tc, ClusterOptions{UseReplicas: true})
	ctx := context.Background()
	require.NoError(t, cl.Set(ctx, "k", "v"))
	replica := tc.Replicas()[0]
	refused := errorCount(t, replica, "NOPERM")
	for _, n := range tc.Nodes() {
		_, err := n.Do(ctx, "ACL", "SETUSER", "app", "-readonly")
		require.NoError(t, err)
	}
	_, err := replica.Do(ctx, "CLIENT", "KILL", "USER", "app")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	var slowest time.Duration
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for range 100 {
				t0 := time.Now()
				v, err := cl.Get(ctx, "k")
				mu.Lock()
				slowest = max(slowest, time.Since(t0))
				if err != nil || v != "v" {
					failed = append(failed, err)
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond) // a reader's pace, over about a second
			}
		})
	}
	wg.Wait()
	t.Logf("1600 GETs in %v, the slowest %v", time.Since(start), slowest)
	assert.Greater(t, errorCount(t, replica, "NOPERM"), refused, "the replica refused READONLY")
	assert.Empty(t, failed, "reads that failed")
}

// PUBLISH goes to another node while its channel's master refuses the client's new connection
// (WRONGPASS): none fails. (One of 20 failed in each of a review's three runs: the one queued
// at the master while it dialled.)
func TestPublishPassesOverAMasterRefusingTheHandshake(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Users: appUser})
	cl := connectAsApp(t, tc, ClusterOptions{})
	ctx := context.Background()
	const ch = "refused-channel"
	m := tc.MasterFor(GetSlot(ch))
	before := refuseApp(t, m)
	for i := range 20 {
		_, err := cl.Do(ctx, Cmd("PUBLISH", ch, i))
		require.NoError(t, err, "PUBLISH %d", i)
		time.Sleep(20 * time.Millisecond) // a publisher's pace
	}
	assert.Greater(t, errorCount(t, m, "WRONGPASS"), before, "the master refused the handshake")
}

// A blocking command whose own connection's handshake is refused (WRONGPASS) is tried again
// within CommandTimeout, as one on a shared connection waits for its node, and runs once the
// password is back. (It failed at once, "connection failed before it was written", 2 ms after
// it was sent, in a review's two runs, where a GET sent beside it waited and succeeded.)
func TestBlockingCommandTriesARefusedDialAgain(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Users: appUser})
	cl := connectAsApp(t, tc, ClusterOptions{CommandTimeout: 3 * time.Second})
	ctx := context.Background()
	require.NoError(t, cl.Set(ctx, "k", "v"))
	m := tc.Masters()[0]
	before := refuseApp(t, m)
	type result struct {
		what string
		err  error
	}
	done := make(chan result, 2)
	go func() {
		_, err := cl.Get(ctx, "k")
		done <- result{"GET", err}
	}()
	go func() {
		_, err := cl.Do(ctx, Cmd("BLPOP", "refused-list", 1))
		done <- result{"BLPOP", err}
	}()
	// Both connections refused: the shared one's redial and the BLPOP's own (two WRONGPASS at
	// least), with neither call ended.
	require.Eventually(t, func() bool { return errorCount(t, m, "WRONGPASS") >= before+2 }, 3*time.Second,
		5*time.Millisecond, "the master refused the handshakes")
	select {
	case r := <-done:
		require.FailNow(t, "a call ended while the password was refused", "%s: %v", r.what, r.err)
	default:
	}
	_, err := m.Do(ctx, "ACL", "SETUSER", "app", "resetpass", ">pw")
	require.NoError(t, err)
	for range 2 {
		r := <-done
		assert.NoError(t, r.err, r.what)
	}
}

// Refreshes of the map that keep failing alike (every node refuses the client's password, and a
// master is down for it, so the map looks again every 200 ms) are reported once, then at most
// once every 5 s, the count of those in between in the next report. (Each was an EventError: a
// review counted about 130 in 26 s.)
func TestRefreshRefusedEverywhereIsReportedNowAndThen(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Users: appUser})
	cl := connectAsApp(t, tc, ClusterOptions{})
	var mu sync.Mutex
	var reported []error
	cl.OnError(func(err error) {
		if errors.Is(err, ErrRootNodesUnavailable) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		}
	})
	for _, n := range tc.Nodes() {
		refuseApp(t, n)
	}
	before := cl.run.Load().smap.Refreshes()
	require.Eventually(t, func() bool { return cl.run.Load().smap.Refreshes() >= before+8 }, 10*time.Second,
		10*time.Millisecond, "the map looked again and again")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, reported, "the failure was reported")
	assert.Len(t, reported, 1, "reported once in under 5 s: %v", reported)
	assert.ErrorIs(t, reported[0], ErrWrongPass)
}

// A Watch whose connection's handshake is refused (WRONGPASS) is tried again within
// CommandTimeout, as one whose dial failed otherwise, and runs once the password is back. (It
// failed at once: the server's refusal inside the connection's error was taken for the WATCH's
// reply.)
func TestWatchTriesARefusedDialAgain(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Users: appUser})
	cl := connectAsApp(t, tc, ClusterOptions{CommandTimeout: 3 * time.Second})
	ctx := context.Background()
	m := tc.Masters()[0]
	before := refuseApp(t, m)
	done := make(chan error, 1)
	go func() {
		done <- cl.Watch(ctx, func(tx *WatchTx) error {
			_, err := tx.Exec(ctx, Cmd("SET", "watched", "v"))
			return err
		}, "watched")
	}()
	require.Eventually(t, func() bool { return errorCount(t, m, "WRONGPASS") >= before+2 }, 3*time.Second,
		5*time.Millisecond, "the master refused the handshakes")
	select {
	case err := <-done:
		require.FailNow(t, "the Watch ended while the password was refused", "%v", err)
	default:
	}
	_, err := m.Do(ctx, "ACL", "SETUSER", "app", "resetpass", ">pw")
	require.NoError(t, err)
	require.NoError(t, <-done)
	v, err := cl.Get(ctx, "watched")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

// A password refused for good: a blocking command with a timeout of 0, a Watch and a Scan, each of
// which tries a refused connection again, end within about CommandTimeout, their errors matching
// ErrWrongPass, and so does the node's event.
func TestRefusedForGoodEndsWithinCommandTimeout(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Users: appUser})
	cl := connectAsApp(t, tc, ClusterOptions{CommandTimeout: 2 * time.Second})
	ctx := context.Background()
	require.NoError(t, cl.Set(ctx, "k", "v"))
	nodeErrs := make(chan Event, 100)
	cl.OnEvent(func(e Event) {
		if e.Type == EventNodeError {
			select {
			case nodeErrs <- e:
			default:
			}
		}
	})
	for _, n := range tc.Nodes() {
		refuseApp(t, n)
	}
	type result struct {
		what string
		err  error
		took time.Duration
	}
	done := make(chan result, 3)
	start := time.Now()
	go func() {
		_, err := cl.Do(ctx, Cmd("BLPOP", "never", 0))
		done <- result{"BLPOP 0", err, time.Since(start)}
	}()
	go func() {
		err := cl.Watch(ctx, func(*WatchTx) error { return nil }, "w")
		done <- result{"Watch", err, time.Since(start)}
	}()
	go func() {
		var err error
		for _, e := range cl.Scan(ctx, ScanOptions{}) {
			if e != nil {
				err = e
			}
		}
		done <- result{"Scan", err, time.Since(start)}
	}()
	for range 3 {
		r := <-done
		t.Logf("%s after %v: %v", r.what, r.took.Round(time.Millisecond), r.err)
		assert.ErrorIs(t, r.err, ErrWrongPass, r.what)
		assert.Less(t, r.took, 4*time.Second, r.what)
	}
	e := <-nodeErrs
	assert.ErrorIs(t, e.Err, ErrWrongPass, "a node's refused dial's event")
}
