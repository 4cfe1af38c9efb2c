package api

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// subscribed sums, over the masters, what CLIENT LIST says the pubsub connections named name hold:
// field is "sub" (channels), "psub" (patterns) or "ssub" (shard channels); conns counts them.
func subscribed(t *testing.T, tc *testcluster.Cluster, name, field string) (held, conns int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^.*\bname=` + regexp.QuoteMeta(name) + `\b.*$`)
	num := regexp.MustCompile(`\b` + field + `=(\d+)`)
	for _, n := range tc.Masters() {
		v, err := n.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub")
		require.NoError(t, err)
		for _, line := range re.FindAllString(fmt.Sprint(v), -1) {
			conns++
			if m := num.FindStringSubmatch(line); m != nil {
				k, _ := strconv.Atoi(m[1])
				held += k
			}
		}
	}
	return held, conns
}

// awaitSubscribed waits up to 10 s for the masters to list held names of field and conns
// connections for the pubsub connections named name (a server lists what it has read: the
// unsubscribe commands Remove wrote may still be on their way, and a closed connection is listed
// until the server notices).
func awaitSubscribed(t *testing.T, tc *testcluster.Cluster, name, field string, held, conns int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		h, c := subscribed(t, tc, name, field)
		if h == held && c == conns {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s: %d held on %d connections, want %d on %d", field, h, c, held, conns)
		time.Sleep(20 * time.Millisecond) // nothing to wait on: the servers are asked again
	}
}

// publishBoth publishes to gone, then to kept, through the same node: the servers forward them in
// that order, so a subscriber that still held gone would receive it first.
func publishBoth(t *testing.T, n *testcluster.Node, cmd, gone, kept string) {
	t.Helper()
	for _, ch := range []string{gone, kept} {
		_, err := n.Do(context.Background(), cmd, ch, "after-remove")
		require.NoError(t, err)
	}
}

// Add and Remove change a running subscription of each kind, on RESP3 and RESP2: an added name
// receives, a removed one no longer does, the servers hold exactly what is left, and a shard
// connection left with nothing is closed.
func TestSubscriptionAddAndRemove(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			// A client per kind, each naming its connections: CLIENT LIST tells them apart.
			name := fmt.Sprint("change-resp", proto)
			client := func(kind string) *Cluster {
				return connect(t, tc, ClusterOptions{RESP: proto, ClientName: name + "-" + kind})
			}
			cl := client("sub")
			ctx := context.Background()
			first := tc.Masters()[0]

			sub, err := cl.Subscribe(ctx, "ch-a")
			require.NoError(t, err)
			defer sub.Close()
			require.NoError(t, sub.Add(ctx, "ch-b", "ch-a", "ch-b"))
			held, conns := subscribed(t, tc, name+"-sub", "sub")
			assert.Equal(t, []int{2, 1}, []int{held, conns}, "Add returned once the server had both")
			_, err = cl.Do(ctx, Cmd("PUBLISH", "ch-b", "hello"))
			require.NoError(t, err)
			assert.Equal(t, Message{Channel: "ch-b", Payload: "hello"}, nextMessage(t, sub))
			require.NoError(t, sub.Remove("ch-a", "never-held"))
			awaitSubscribed(t, tc, name+"-sub", "sub", 1, 1)
			publishBoth(t, first, "PUBLISH", "ch-a", "ch-b")
			assert.Equal(t, Message{Channel: "ch-b", Payload: "after-remove"}, nextMessage(t, sub))
			require.NoError(t, sub.Remove("ch-b"))
			awaitSubscribed(t, tc, name+"-sub", "sub", 0, 0) // nothing left: its connection is closed
			require.NoError(t, sub.Add(ctx, "ch-c"))
			assert.Equal(t, "ch-c", publishUntilHeard(t, cl, sub, "ch-c").Channel)

			cl = client("psub")
			psub, err := cl.PSubscribe(ctx, "pa.*")
			require.NoError(t, err)
			defer psub.Close()
			require.NoError(t, psub.Add(ctx, "pb.*"))
			_, err = cl.Do(ctx, Cmd("PUBLISH", "pb.x", "p"))
			require.NoError(t, err)
			assert.Equal(t, Message{Pattern: "pb.*", Channel: "pb.x", Payload: "p"}, nextMessage(t, psub))
			require.NoError(t, psub.Remove("pa.*"))
			awaitSubscribed(t, tc, name+"-psub", "psub", 1, 1)
			publishBoth(t, first, "PUBLISH", "pa.x", "pb.x")
			assert.Equal(t, Message{Pattern: "pb.*", Channel: "pb.x", Payload: "after-remove"}, nextMessage(t, psub))

			// Shard channels: two in slots of the first master, one added on the last.
			here, near := keyInSlot("sa", 0), keyInSlot("sb", 1)
			far := keyInSlot("sc", 16000)
			cl = client("ssub")
			ssub, err := cl.SSubscribe(ctx, here, near)
			require.NoError(t, err)
			defer ssub.Close()
			require.NoError(t, ssub.Add(ctx, far))
			awaitSubscribed(t, tc, name+"-ssub", "ssub", 3, 2)
			spublish(t, cl, far, "far")
			assert.Equal(t, Message{Channel: far, Payload: "far"}, nextMessage(t, ssub))
			require.NoError(t, ssub.Remove(far, near))
			awaitSubscribed(t, tc, name+"-ssub", "ssub", 1, 1)
			publishBoth(t, tc.MasterFor(0), "SPUBLISH", near, here)
			assert.Equal(t, Message{Channel: here, Payload: "after-remove"}, nextMessage(t, ssub))
		})
	}
}

// An Add the server refuses for one name fails with the refusal, naming the node, and takes back
// the names it added (not those the subscription held); no EventError is sent for it. Add and
// Remove on an ended subscription fail with ErrSubscriptionClosed.
func TestAddRefusedTakesBackItsNames(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, Password: "adminpw",
		Users: []testcluster.User{{Name: "sub", Password: "pw", Rules: []string{"on", "~*", "resetchannels", "&allowed*", "+@all"}}}})
	cl := connect(t, tc, ClusterOptions{ClientName: "refused", RootNodes: []NodeOptions{{URL: "redis://sub:pw@" + tc.Addrs()[0]}}})
	errs := errorsOf(cl)
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "allowed-1")
	require.NoError(t, err)
	defer sub.Close()

	err = sub.Add(ctx, "allowed-2", "forbidden", "allowed-1")
	require.ErrorIs(t, err, ErrNoPerm)
	assert.Contains(t, err.Error(), tc.Addrs()[0])
	assert.Contains(t, err.Error(), `"forbidden"`)
	awaitSubscribed(t, tc, "refused", "sub", 1, 1)
	assert.Equal(t, "allowed-1", publishUntilHeard(t, cl, sub, "allowed-1").Channel)
	assert.Empty(t, errs, "the refusal went to Add's caller")

	require.NoError(t, sub.Close())
	assert.ErrorIs(t, sub.Add(ctx, "allowed-3"), ErrSubscriptionClosed)
	assert.ErrorIs(t, sub.Remove("allowed-1"), ErrSubscriptionClosed)
	assert.ErrorIs(t, sub.Add(ctx), ErrEmptyCommand)
}

// An Add not confirmed within CommandTimeout fails with ErrTimeout, naming the node, and takes its
// name back: once the server reads again, it holds only what the subscription had.
func TestAddTimesOut(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{ClientName: "late", CommandTimeout: 300 * time.Millisecond,
		RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "on-time")
	require.NoError(t, err)
	defer sub.Close()
	_, err = tc.Masters()[0].Do(ctx, "CLIENT", "PAUSE", "1000", "ALL")
	require.NoError(t, err)
	err = sub.Add(ctx, "late-1", "late-2")
	require.ErrorIs(t, err, ErrTimeout)
	// It names the node whose confirmation was still due (it named none).
	assert.Contains(t, err.Error(), "node "+tc.Addrs()[0]+": SUBSCRIBE: its confirmation was still due")
	awaitSubscribed(t, tc, "late", "sub", 1, 1) // after the pause
	assert.Equal(t, "on-time", publishUntilHeard(t, cl, sub, "on-time").Channel)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, sub.Add(cancelled, "late-3"), context.Canceled)
}

// An unsubscribe command the server refuses (here an ACL denies it) leaves it delivering the
// names: the connection is closed instead, its gap said, and the names kept are subscribed again.
func TestRemoveRefusedStillRemoves(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, Password: "adminpw",
		Users: []testcluster.User{{Name: "sub", Password: "pw", Rules: []string{"on", "~*", "allchannels", "+@all", "-unsubscribe"}}}})
	cl := connect(t, tc, ClusterOptions{ClientName: "stuck", RootNodes: []NodeOptions{{URL: "redis://sub:pw@" + tc.Addrs()[0]}}})
	errs := errorsOf(cl)
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "gone", "kept")
	require.NoError(t, err)
	defer sub.Close()
	id := clientID(t, tc.Masters()[0], "stuck")
	require.NoError(t, sub.Remove("gone"))
	err = testwait.Recv(t, errs, "no EventError for the refused UNSUBSCRIBE")
	require.ErrorIs(t, err, ErrSubscriptionGap)
	assert.ErrorIs(t, err, ErrNoPerm)
	assert.Contains(t, err.Error(), "UNSUBSCRIBE")
	assert.Equal(t, "kept", publishUntilHeard(t, cl, sub, "kept").Channel)
	awaitSubscribed(t, tc, "stuck", "sub", 1, 1)
	assert.NotEqual(t, id, clientID(t, tc.Masters()[0], "stuck"), "a new connection")
}

// inspect runs f on sub's goroutine, which owns its state, and waits for it.
func inspect(t *testing.T, sub *Subscription, f func(r *subRun)) {
	t.Helper()
	done := make(chan struct{})
	require.True(t, sub.change(func(r *subRun) { f(r); close(done) }), "the subscription has ended")
	testwait.Recv(t, done, "the subscription's goroutine did not answer")
}

// awaitState waits up to 10 s for ok, run on sub's goroutine, to hold.
func awaitState(t *testing.T, sub *Subscription, what string, ok func(r *subRun) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var holds bool
		inspect(t, sub, func(r *subRun) { holds = ok(r) })
		if holds {
			return
		}
		require.True(t, time.Now().Before(deadline), "never: %s", what)
		time.Sleep(5 * time.Millisecond) // the state moves on server replies: asked again
	}
}

// names returns what sub holds: on its connections, and waiting to be subscribed (again).
func names(t *testing.T, sub *Subscription) (held, pending []string) {
	t.Helper()
	inspect(t, sub, func(r *subRun) {
		for _, l := range r.links {
			for n := range l.names {
				held = append(held, n)
			}
		}
		for n := range r.pending {
			pending = append(pending, n)
		}
	})
	sort.Strings(held)
	return held, pending
}

// A refusal that reaches the client after the names it refuses were taken out (an Add that timed
// out, a Remove) puts nothing back: the server ends up holding only what is wanted, and no
// EventError tells of a name nobody holds.
func TestLateRefusalOfNamesTakenOutPutsNothingBack(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, Password: "adminpw",
		Users: []testcluster.User{{Name: "sub", Password: "pw", Rules: []string{"on", "~*", "resetchannels", "&allowed*", "+@all"}}}})
	for _, how := range []string{"timeout", "remove"} {
		t.Run(how, func(t *testing.T) {
			cl := connect(t, tc, ClusterOptions{ClientName: "late-" + how, CommandTimeout: 2 * time.Second,
				RootNodes: []NodeOptions{{URL: "redis://sub:pw@" + tc.Addrs()[0]}}})
			errs := errorsOf(cl)
			ctx := context.Background()
			sub, err := cl.Subscribe(ctx, "allowed-1")
			require.NoError(t, err)
			defer sub.Close()
			_, err = tc.Masters()[0].Do(ctx, "CLIENT", "PAUSE", "800", "ALL")
			require.NoError(t, err)
			added := make(chan error, 1)
			go func() { added <- sub.Add(ctx, "allowed-3") }()
			awaitState(t, sub, "allowed-3 written", func(r *subRun) bool { return r.linkOf("allowed-3") != nil })
			switch how {
			case "timeout":
				short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				require.ErrorIs(t, sub.Add(short, "allowed-2", "forbidden"), context.DeadlineExceeded)
			case "remove":
				go func() { _ = sub.Add(ctx, "allowed-2", "forbidden") }()
				awaitState(t, sub, "the second Add written", func(r *subRun) bool { return r.linkOf("forbidden") != nil })
				require.NoError(t, sub.Remove("allowed-2", "forbidden"))
			}
			require.NoError(t, <-added, "confirmed once the pause is over, behind the refusal")
			held, pending := names(t, sub)
			assert.Equal(t, []string{"allowed-1", "allowed-3"}, held)
			assert.Empty(t, pending)
			awaitSubscribed(t, tc, "late-"+how, "sub", 2, 1)
			assert.Empty(t, errs)
		})
	}
}

// Adds of one name: one that gives up (cancelled, or out of time) leaves it to the others still
// waiting, which succeed, and leaves nothing behind it.
func TestConcurrentAddsOfOneName(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{ClientName: "twice", CommandTimeout: 3 * time.Second,
		RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "first")
	require.NoError(t, err)
	defer sub.Close()
	_, err = tc.Masters()[0].Do(ctx, "CLIENT", "PAUSE", "800", "ALL")
	require.NoError(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	owner, other := make(chan error, 1), make(chan error, 1)
	go func() { owner <- sub.Add(cancelled, "x") }() // adds x
	awaitState(t, sub, "the owner waiting", func(r *subRun) bool { return len(r.waiting["x"]) == 1 })
	go func() { other <- sub.Add(ctx, "x", "y") }() // waits for x, adds y
	awaitState(t, sub, "both waiting", func(r *subRun) bool { return len(r.waiting["x"]) == 2 })
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	require.ErrorIs(t, sub.Add(short, "y"), context.DeadlineExceeded) // gives up on y, added by other
	cancel()
	require.ErrorIs(t, <-owner, context.Canceled)
	require.NoError(t, <-other)
	held, _ := names(t, sub)
	assert.Equal(t, []string{"first", "x", "y"}, held)
	inspect(t, sub, func(r *subRun) { assert.Empty(t, r.waiting, "no Add left waiting") })
	awaitSubscribed(t, tc, "twice", "sub", 3, 1)
}

// A connection left with nothing to carry is closed once its last command is answered, a PING
// included.
func TestEmptiedConnectionClosesAfterItsPing(t *testing.T) {
	quickPings(t)
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas, Password: "adminpw",
		Users: []testcluster.User{{Name: "sub", Password: "pw", Rules: []string{"on", "~*", "resetchannels", "&allowed*", "+@all"}}}})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 2 * time.Second,
		RootNodes: []NodeOptions{{URL: "redis://sub:pw@" + tc.Addrs()[0]}}})
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "allowed-c", "allowed-d")
	require.NoError(t, err)
	defer sub.Close()
	_, err = tc.Masters()[0].Do(ctx, "CLIENT", "PAUSE", "800", "ALL")
	require.NoError(t, err)
	require.NoError(t, sub.Remove("allowed-c"))
	refused := make(chan error, 1)
	go func() { refused <- sub.Add(ctx, "forbidden") }()
	awaitState(t, sub, "the Add written", func(r *subRun) bool { return r.linkOf("forbidden") != nil })
	require.NoError(t, sub.Remove("allowed-d")) // forbidden still keeps the connection
	awaitState(t, sub, "a PING written", func(r *subRun) bool {
		for _, l := range r.links {
			return len(l.sent) > 0 && l.sent[len(l.sent)-1].kind == sentPing
		}
		return false
	})
	require.ErrorIs(t, <-refused, ErrNoPerm)
	awaitState(t, sub, "the connection closed", func(r *subRun) bool { return len(r.links) == 0 })
}

// A node slow to take a new connection (here paused: its HELLO waits) holds up nothing else: an
// Add of a channel on another master is confirmed, a Remove returns, while the dial waits; the
// Add that needed the slow node fails at its CommandTimeout, and the connection that comes up
// after it is closed, as nothing is left for it.
func TestSlowDialHoldsUpNothingElse(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: time.Second, ConnectTimeout: 5 * time.Second})
	ctx := context.Background()
	a, b := tc.MasterFor(0), tc.MasterFor(16000)
	require.NotEqual(t, a.Addr(), b.Addr())
	sub, err := cl.SSubscribe(ctx, keyInSlot("on-a", 0))
	require.NoError(t, err)
	defer sub.Close()
	_, err = b.Do(ctx, "CLIENT", "PAUSE", "2500", "ALL")
	require.NoError(t, err)
	slow := make(chan error, 1)
	go func() { slow <- sub.Add(ctx, keyInSlot("on-b", 16000)) }()
	awaitState(t, sub, "a dial to b", func(r *subRun) bool { return r.dialing[b.Addr()] != nil })

	require.NoError(t, sub.Add(ctx, keyInSlot("more-on-a", 1)), "a's connection is not held up by b's dial")
	require.NoError(t, sub.Remove("nothing"))
	err = <-slow
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), b.Addr(), "the node still being dialled")
	awaitState(t, sub, "b's dial over, its connection closed", func(r *subRun) bool {
		return len(r.dialing) == 0 && len(r.links) == 1 && r.links[a.Addr()] != nil
	})
}

// Add called by the goroutine that reads Messages, with more messages waiting than the
// subscription holds for a slow reader: the subscription takes them all while the Add waits, so
// the confirmation behind them reaches it.
func TestAddFromTheReadingGoroutineThroughAFlood(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: time.Second, RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	ctx := context.Background()
	sub, err := cl.Subscribe(ctx, "flood")
	require.NoError(t, err)
	defer sub.Close()
	flood(t, cl, "flood", 3000)
	require.NoError(t, sub.Add(ctx, "extra"))
	for i := 0; i < 3000; i++ {
		require.Equal(t, strconv.Itoa(i), nextMessage(t, sub).Payload)
	}
	assert.Equal(t, "extra", publishUntilHeard(t, cl, sub, "extra").Channel)
}

// A Subscribe whose only node does not answer a new connection in time (the longer of
// CommandTimeout and ConnectTimeout) fails with ErrTimeout, naming the node: its connection still
// being opened, or the dial's own timeout, which ConnectTimeout bounds too (whichever comes
// first: CI run 74 saw the dial's).
func TestSubscribeTimesOutNamingTheSlowNode(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond,
		RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	_, err := tc.Masters()[0].Do(context.Background(), "CLIENT", "PAUSE", "1000", "ALL")
	require.NoError(t, err)
	_, err = cl.SSubscribe(context.Background(), "slow")
	require.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "node "+tc.Addrs()[0]+": SSUBSCRIBE: ")
	if msg := err.Error(); !strings.Contains(msg, "still being opened") {
		assert.Contains(t, msg, "HELLO", "the dial's own timeout, if not still being opened")
	}
	assert.NotErrorIs(t, err, context.Canceled)
}
