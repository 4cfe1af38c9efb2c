package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// slotKeys returns n keys of slot, sharing a hash tag.
func slotKeys(prefix string, slot, n int) []string {
	tag := keyInSlot(prefix, slot)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "{" + tag + "}:" + strconv.Itoa(i)
	}
	return keys
}

// setAll sets every key to "v".
func setAll(t *testing.T, cl *Cluster, keys []string) {
	t.Helper()
	values := make(map[string]any, len(keys))
	for _, k := range keys {
		values[k] = "v"
	}
	require.NoError(t, cl.MSet(context.Background(), values))
}

// beginMove sets keys (all in slot), leaves slot migrating to the master to, and moves the first
// moved keys there.
func beginMove(t *testing.T, tc *testcluster.Cluster, cl *Cluster, slot int, keys []string, to *testcluster.Node, moved int) {
	t.Helper()
	ctx := context.Background()
	setAll(t, cl, keys)
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	for i := 0; i < moved; i += 50 {
		require.NoError(t, tc.MigrateKeys(ctx, tc.MasterFor(slot), to, keys[i:min(i+50, moved)]...))
	}
}

// scanAll runs a Scan to its end, calling each (when not nil) with every key as it comes, and
// returns how many times each key came.
func scanAll(t *testing.T, cl *Cluster, opts ScanOptions, each func(key string)) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for k, err := range cl.Scan(context.Background(), opts) {
		require.NoError(t, err)
		seen[k]++
		if each != nil {
			each(k)
		}
	}
	return seen
}

// assertSeen checks that seen holds every key of want and no other, naming a few missing.
func assertSeen(t *testing.T, want []string, seen map[string]int) {
	t.Helper()
	var lost []string
	for _, k := range want {
		if seen[k] == 0 {
			lost = append(lost, k)
		}
	}
	assert.Empty(t, lost[:min(len(lost), 5)], "%d keys of %d not yielded", len(lost), len(want))
	assert.Equal(t, len(want), len(seen), "keys yielded")
}

func TestParseSelfView(t *testing.T) {
	reply := "b 127.0.0.1:2@3,hb master - 0 0 2 connected 7\n" +
		"a 127.0.0.1:1@2,ha myself,master - 0 0 1 connected 0-2 5 [3->-b] [9-<-c]\n" +
		"c :0@0 master,noaddr - 0 0 3 connected\n" +
		"d ::1:7004@17004 master - 0 0 4 connected\n"
	for _, v := range []resp.Value{resp.BulkString(reply), resp.Verbatim("txt", reply)} {
		view, err := parseSelfView(v)
		require.NoError(t, err)
		var owned []int
		view.owned.each(func(s int) { owned = append(owned, s) })
		assert.Equal(t, []int{0, 1, 2, 5}, owned)
		assert.Equal(t, map[int]string{3: "b"}, view.migrating)
		assert.Equal(t, "1", view.epoch)
		assert.True(t, view.importing.has(9))
		assert.False(t, view.importing.has(3))
		assert.Equal(t, "127.0.0.1:2", view.addrOf("b", "127.0.0.1"), "the map knows a by its IP")
		assert.Equal(t, "hb:2", view.addrOf("b", "ha"), "the map knows a by its hostname")
		assert.Empty(t, view.addrOf("c", "127.0.0.1"), "no address")
		assert.Equal(t, "[::1]:7004", view.addrOf("d", "127.0.0.1"), "IPv6, unbracketed in the reply")
		assert.Empty(t, view.addrOf("e", "127.0.0.1"), "not listed")
	}
	for _, bad := range []string{
		"a 127.0.0.1:1@2 master - 0 0 1 connected 0-2\n",          // no myself line
		"a 127.0.0.1:1@2 myself,master - 0 0 1 connected 0-x\n",   // not a slot
		"a 127.0.0.1:1@2 myself,master - 0 0 1 connected 16384\n", // out of range
		"a 127.0.0.1:1@2 myself,master - 0 0 1 connected [3-?-b]\n",
	} {
		_, err := parseSelfView(resp.BulkString(bad))
		assert.ErrorIs(t, err, resp.ErrUnexpectedType, bad)
	}
}

// TestScanYieldsEveryKeyOnce: on a stable cluster Scan yields each key of every master once,
// filtered by Match and Type, and ends on a loop's break, a ctx ended, a bad option or Close.
func TestScanYieldsEveryKeyOnce(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	var strs []string
	for i := range 3000 {
		strs = append(strs, "scan:"+strconv.Itoa(i))
	}
	setAll(t, cl, strs)
	var hashes []string
	for i := range 40 {
		k := "scanh:" + strconv.Itoa(i)
		_, err := cl.HSet(ctx, k, "f", "v")
		require.NoError(t, err)
		hashes = append(hashes, k)
	}

	seen := scanAll(t, cl, ScanOptions{Match: "scan:*", Count: 100}, nil)
	assertSeen(t, strs, seen)
	for k, n := range seen {
		require.Equal(t, 1, n, "key %s yielded %d times", k, n)
	}
	seen = scanAll(t, cl, ScanOptions{Type: "hash"}, nil)
	assertSeen(t, hashes, seen)
	assert.Len(t, scanAll(t, cl, ScanOptions{Count: 1000}, nil), len(strs)+len(hashes))

	n := 0
	for k, err := range cl.Scan(ctx, ScanOptions{}) {
		require.NoError(t, err)
		require.NotEmpty(t, k)
		if n++; n == 5 {
			break
		}
	}
	assert.Equal(t, 5, n)

	ended, cancel := context.WithCancel(ctx)
	cancel()
	var errs []error
	for k, err := range cl.Scan(ended, ScanOptions{}) {
		assert.Empty(t, k)
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)

	for _, err := range cl.Scan(ctx, ScanOptions{Count: -1}) {
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "ScanOptions.Count", ce.Field)
	}

	require.NoError(t, cl.Close())
	errs = nil
	for _, err := range cl.Scan(ctx, ScanOptions{}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrClientClosed)
}

// TestScanFollowsMovingSlots: slots moved while the scan runs lose none of their keys — one moved
// into the master being scanned from one not yet scanned, one moved out of the master being
// scanned into one already scanned, and one left half migrated when its master's scan ends.
func TestScanFollowsMovingSlots(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	// Scan starts with the master of slot 0, then that of the first slot left, and so on: in
	// the harness, the masters of 0, 5461 and 10923, in that order.
	m0, m1, m2 := tc.MasterFor(0), tc.MasterFor(5461), tc.MasterFor(10923)
	require.NotEqual(t, m0, m1)
	require.NotEqual(t, m1, m2)
	const intoFirst, outOfSecond, halfOfThird = 16000, 6000, 12000
	var all []string
	for _, slot := range []int{100, 7000, 11000} { // keys that stay put
		all = append(all, slotKeys("stay", slot, 200)...)
	}
	moving := map[int][]string{}
	for _, slot := range []int{intoFirst, outOfSecond, halfOfThird} {
		moving[slot] = slotKeys("move", slot, 300)
		all = append(all, moving[slot]...)
	}
	setAll(t, cl, all)
	require.Equal(t, m2, tc.MasterFor(intoFirst))
	require.Equal(t, m1, tc.MasterFor(outOfSecond))
	require.Equal(t, m2, tc.MasterFor(halfOfThird))

	done := map[string]bool{}
	seen := scanAll(t, cl, ScanOptions{Count: 20}, func(k string) {
		owner := tc.MasterFor(GetSlot(k))
		switch {
		case owner == m0 && !done["into"]:
			done["into"] = true
			require.NoError(t, tc.MigrateSlot(ctx, intoFirst, m0))
		case owner == m1 && !done["out"]:
			done["out"] = true
			require.NoError(t, tc.MigrateSlot(ctx, outOfSecond, m0))
		case owner == m2 && !done["half"]:
			done["half"] = true
			require.NoError(t, tc.BeginMigration(ctx, halfOfThird, m0))
			keys := moving[halfOfThird]
			for i := 0; i < len(keys)/2; i += 50 {
				require.NoError(t, tc.MigrateKeys(ctx, m2, m0, keys[i:i+50]...))
			}
		}
	})
	assert.Equal(t, map[string]bool{"into": true, "out": true, "half": true}, done)
	assertSeen(t, all, seen)
	require.NoError(t, tc.FinishMigration(ctx, halfOfThird, m0))
}

// TestScanSurvivesAFailover: the master being scanned is killed; Scan goes on from the replica
// promoted in its place, and every key comes. The loop waits out the failover itself, for longer
// than CommandTimeout: the time it takes over a key is not the servers' and does not count.
func TestScanSurvivesAFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	const timeout = 2 * time.Second
	cl := connect(t, tc, ClusterOptions{CommandTimeout: timeout})
	ctx := context.Background()
	var all []string
	for i := range 3000 {
		all = append(all, fmt.Sprintf("fo:%d", i))
	}
	setAll(t, cl, all)
	for _, m := range tc.Masters() { // the replicas have every key before the kill
		_, err := m.Do(ctx, "WAIT", "1", "5000")
		require.NoError(t, err)
	}
	victim := tc.MasterFor(0)
	var killed time.Time
	seen := scanAll(t, cl, ScanOptions{Count: 10}, func(k string) {
		if killed.IsZero() {
			require.Equal(t, victim, tc.MasterFor(GetSlot(k)))
			require.NoError(t, tc.Kill(victim))
			killed = time.Now()
			_, err := tc.WaitForFailover(ctx, victim)
			require.NoError(t, err)
			t.Logf("the loop waited %s for the failover", time.Since(killed).Round(time.Millisecond))
			time.Sleep(max(0, timeout+100*time.Millisecond-time.Since(killed))) // past CommandTimeout in any case
		}
	})
	t.Logf("the scan ended %s after the kill", time.Since(killed).Round(time.Millisecond))
	assertSeen(t, all, seen)
}

// TestScanErrors: a user denied CLUSTER NODES gets the refusal at once, naming the node; a master
// that hangs mid-scan ends it with ErrTimeout CommandTimeout after its last reply, and a shard
// whose master and replica are both down after CommandTimeout, naming the node last tried.
func TestScanErrors(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	ctx := context.Background()
	for _, n := range tc.Nodes() {
		_, err := n.Do(ctx, "ACL", "SETUSER", "scanner", "on", ">pw", "~*", "+@all", "-cluster|nodes")
		require.NoError(t, err)
	}
	restricted := connect(t, tc, ClusterOptions{Defaults: NodeOptions{Username: "scanner", Password: "pw"}})
	var errs []error
	for _, err := range restricted.Scan(ctx, ScanOptions{}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrNoPerm)
	assert.ErrorContains(t, errs[0], "CLUSTER NODES")
	assert.ErrorContains(t, errs[0], tc.MasterFor(0).Addr())

	const timeout = 2 * time.Second
	cl := connect(t, tc, ClusterOptions{CommandTimeout: timeout})
	setAll(t, cl, slotKeys("hung", 0, 100))
	victim := tc.MasterFor(0)
	var paused time.Time
	errs = nil
	for k, err := range cl.Scan(ctx, ScanOptions{Count: 10}) {
		if err != nil {
			errs = append(errs, err)
		} else if paused.IsZero() {
			require.Equal(t, victim, tc.MasterFor(GetSlot(k)))
			_, err := victim.Do(ctx, "CLIENT", "PAUSE", strconv.Itoa(int((timeout+time.Second)/time.Millisecond)), "ALL")
			require.NoError(t, err)
			paused = time.Now()
		}
	}
	hung := time.Since(paused)
	t.Logf("the scan of a hung master failed %s after the pause", hung.Round(time.Millisecond))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrTimeout)
	assert.ErrorContains(t, errs[0], victim.Addr())
	assert.Less(t, hung, timeout+timeout/2, "no progress for CommandTimeout, counted from the last page")

	for _, r := range tc.ReplicasOf(victim) {
		require.NoError(t, tc.Kill(r))
	}
	require.NoError(t, tc.Kill(victim))
	start := time.Now()
	errs = nil
	for _, err := range cl.Scan(ctx, ScanOptions{}) {
		errs = append(errs, err)
	}
	took := time.Since(start)
	t.Logf("the scan failed after %s", took.Round(time.Millisecond))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrTimeout)
	assert.ErrorContains(t, errs[0], victim.Addr())
	assert.Less(t, took, 4*timeout, "bounded by CommandTimeout, give or take a step")
}

// A ctx cancelled in the loop's body ends the scan at the next key: that key's place holds the
// ctx's error, and nothing follows. (The rest of the page came first: 8 more keys in a review.)
func TestScanStopsAtTheKeyAfterItsCtxEnds(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	setAll(t, cl, slotKeys("cancel", 0, 50))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var keys int
	var errs []error
	for k, err := range cl.Scan(ctx, ScanOptions{Count: 100}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		require.NotEmpty(t, k)
		if keys++; keys == 3 {
			cancel()
		}
	}
	assert.Equal(t, 3, keys)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)
}

// TestScanFollowsASlotToAMasterWithoutSlots: a slot half migrated to a master that serves no
// slots yet (a node just added, which the client's map does not hold) has its moved keys
// yielded from there.
func TestScanFollowsASlotToAMasterWithoutSlots(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{EmptyMasters: 1})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	empty := tc.Nodes()[len(tc.Nodes())-1]
	const slot = 100
	keys := slotKeys("new", slot, 300)
	stay := slotKeys("stay", 9000, 100)
	setAll(t, cl, stay)
	beginMove(t, tc, cl, slot, keys, empty, len(keys)/2)
	all := append(stay, keys...)
	assertSeen(t, all, scanAll(t, cl, ScanOptions{Count: 50}, nil))
	require.NoError(t, tc.FinishMigration(ctx, slot, empty))
}

// TestScanStopsAtAReplyPastTheLimits: a SCAN reply past Limits ends the scan with that error
// (the same reply would come again), after the keys before it.
func TestScanStopsAtAReplyPastTheLimits(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	cl := connect(t, tc, ClusterOptions{Limits: resp.Limits{MaxBulkLen: 2048}})
	ctx := context.Background()
	var all []string
	for i := range 300 {
		all = append(all, "lim:"+strconv.Itoa(i))
	}
	setAll(t, cl, all)
	require.NoError(t, cl.Set(ctx, "lim:"+strings.Repeat("x", 4096), "v"))
	keys := 0
	var errs []error
	for k, err := range cl.Scan(ctx, ScanOptions{Count: 10}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys++
		require.LessOrEqual(t, keys, len(all), "keys yielded again and again: %s", k)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], resp.ErrBulkTooLong)
	assert.ErrorContains(t, errs[0], "SCAN")
}

// TestScanOfALearnedNodeOutlivesRefreshes: the master with no slots a slot is half migrated to is
// outside the client's map, and every refresh of the map leaves it out; a slow loop over its keys,
// through several refreshes, still gets all of them.
func TestScanOfALearnedNodeOutlivesRefreshes(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{EmptyMasters: 1})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 2 * time.Second, TopologyRefreshInterval: 200 * time.Millisecond})
	ctx := context.Background()
	empty := tc.Nodes()[len(tc.Nodes())-1]
	const slot = 100
	keys := slotKeys("slow", slot, 300)
	beginMove(t, tc, cl, slot, keys, empty, len(keys)/2)
	refreshes := cl.run.Load().smap.Refreshes()
	start := time.Now()
	seen := scanAll(t, cl, ScanOptions{Count: 10}, func(string) {
		time.Sleep(5 * time.Millisecond) // a slow consumer: 300 keys take 1.5 s
	})
	t.Logf("%d refreshes during the %s scan", cl.run.Load().smap.Refreshes()-refreshes,
		time.Since(start).Round(time.Millisecond))
	assertSeen(t, keys, seen)
	require.NoError(t, tc.FinishMigration(ctx, slot, empty))
}

// TestScanRescansASlotThatLeftAndCameBack: a slot moved away from the master being scanned and
// back before its scan ends had keys away while the cursor passed them; the master took a slot
// (its config epoch changed), so its slots are scanned again and every key comes.
func TestScanRescansASlotThatLeftAndCameBack(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	const slot = 200 // the first master, scanned first
	m0 := tc.MasterFor(slot)
	other := tc.MasterFor(10000)
	var all []string
	for i := 0; len(all) < 2000; i++ {
		if k := "back:" + strconv.Itoa(i); tc.MasterFor(GetSlot(k)) == m0 {
			all = append(all, k)
		}
	}
	all = append(all, slotKeys("away", slot, 300)...)
	setAll(t, cl, all)
	n := 0
	seen := scanAll(t, cl, ScanOptions{Count: 10}, func(string) {
		// The first 1000 keys come from m0's scan: it holds more.
		switch n++; n {
		case 1:
			require.NoError(t, tc.MigrateSlot(ctx, slot, other))
		case 1000:
			require.NoError(t, tc.MigrateSlot(ctx, slot, m0))
		}
	})
	assertSeen(t, all, seen)
}

// A scan that gives up on a slot put back to be scanned too often names the node it was scanning
// and says what puts a slot back: its master's taking slots puts back all of its slots, which
// never moved. (It said "slot 6790 moved or lost its node 16 times", naming no node, of a slot a
// review could not see move.)
func TestScanGivingUpOnASlotNamesTheNode(t *testing.T) {
	s := &scanner{}
	var want slotSet
	want.add(42)
	s.rescans[42] = maxRescans
	err := s.keys(&Node{ref: &slotmap.Ref{Addr: "10.0.0.1:7000"}}, &want)
	require.ErrorIs(t, err, errScanMoving)
	assert.Contains(t, err.Error(), "node 10.0.0.1:7000")
	assert.Contains(t, err.Error(), "slot 42")
	assert.Contains(t, err.Error(), "took slots during its scan")
}
