package node

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
)

// The first reconnect attempt comes 10–20 ms after a loss by default: a connection lost is most
// often one the server or a proxy closed, with the server up, and the commands meanwhile wait.
func TestDefaultBackoffRedialsAtOnceFirst(t *testing.T) {
	for range 1000 {
		d := DefaultBackoff(1)
		require.GreaterOrEqual(t, d, MinReconnectDelay)
		require.Less(t, d, 2*MinReconnectDelay)
	}
	assert.GreaterOrEqual(t, DefaultBackoff(2), 200*time.Millisecond)
}

// The count of reconnect attempts starts again at 1 when a connection that stayed up for
// stableFor is lost; one lost sooner goes on from where the attempts before it left off, so that
// a server closing every connection it accepts is not dialled at the first attempt's pace.
func TestReconnectAttemptsStartAgainOnlyAfterAStableConnection(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		_, _ = c.Handshake() // then closed, at the first command
	})
	for _, tc := range []struct {
		stableFor time.Duration
		want      []int
	}{
		{time.Nanosecond, []int{1, 1, 1, 1}},
		{time.Hour, []int{1, 2, 3, 4}},
	} {
		events := newEventLog()
		n := startNode(t, Options{Addr: srv.Addr(), OnEvent: events.record, stableFor: tc.stableFor,
			Reconnect: func(int) time.Duration { return time.Millisecond }})
		var got []int
		for len(got) < len(tc.want) {
			r := NewRequest("GET", "k") // closes the connection it is written to
			n.Send(r)
			_, err := r.Await()
			require.Error(t, err)
			got = append(got, events.waitFor(t, EventReconnecting, 5*time.Second).Attempt)
		}
		assert.Equal(t, tc.want, got, "stable after %s", tc.stableFor)
		require.NoError(t, n.Close(2*time.Second))
	}
}

// A command any node takes (Request.Anywhere), waiting for a connection, goes back to its Owner
// as soon as a dial fails, to be sent elsewhere; one for this node (a key's) keeps waiting for the
// next connection.
func TestDialFailureGivesBackWhatAnyNodeTakes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // refused from now on

	n := startNode(t, Options{Addr: addr, CommandTimeout: time.Minute,
		Reconnect: func(int) time.Duration { return time.Hour }})
	anywhere, keyed := NewRequest("PUBLISH", "news", "hello"), NewRequest("GET", "k")
	anywhere.Anywhere = true
	back, kept := captureOwner{err: make(chan error, 1)}, captureOwner{err: make(chan error, 1)}
	anywhere.Owner, keyed.Owner = back, kept
	n.Send(keyed)
	n.Send(anywhere)

	select {
	case err := <-back.err:
		var ce *ConnError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, addr, ce.Addr)
		assert.Equal(t, "PUBLISH", ce.Command)
		assert.False(t, ce.Written)
	case <-time.After(10 * time.Second):
		t.Fatal("the PUBLISH was not given back after the dial failed")
	}
	assert.Positive(t, n.DownFor(time.Now()), "down")
	assert.Greater(t, n.DownFor(time.Now()), 24*time.Hour, "a dial failed: down for long")
	select {
	case err := <-kept.err:
		t.Fatalf("the GET was given back: %v", err)
	default:
	}
	require.NoError(t, n.Close(2*time.Second))
	select {
	case err := <-kept.err:
		assert.ErrorIs(t, err, ErrClosed)
	case <-keyed.Done():
		_, err := keyed.Await()
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("the GET did not end with the node")
	}
}

// A dial that neither connects nor fails (a frozen server takes the TCP connection and never
// answers the handshake) holds a command any node takes no longer than AnywherePatience: it goes
// back to its Owner, to be sent elsewhere; a key's command keeps waiting for the connection.
// (Before, such a PUBLISH waited out its deadline: 9 of 9 in a review, against a SIGSTOPped
// master.)
func TestHangingDialGivesBackWhatAnyNodeTakes(t *testing.T) {
	hold := make(chan struct{})
	srv := fakeredis.New(t, func(*fakeredis.Conn) { <-hold }) // answers nothing
	t.Cleanup(func() { close(hold) })                         // before the server's close waits for it
	n := startNode(t, Options{Addr: srv.Addr(), ConnectTimeout: time.Minute, CommandTimeout: time.Minute})
	anywhere, keyed := NewRequest("PUBLISH", "news", "hello"), NewRequest("GET", "k")
	anywhere.Anywhere = true
	back, kept := captureOwner{err: make(chan error, 1)}, captureOwner{err: make(chan error, 1)}
	anywhere.Owner, keyed.Owner = back, kept
	anywhere.Until, keyed.Until = time.Now().Add(time.Minute), time.Now().Add(time.Minute)
	n.Send(keyed)
	n.Send(anywhere)

	select {
	case err := <-back.err:
		var ce *ConnError
		require.ErrorAs(t, err, &ce)
		assert.ErrorIs(t, err, errNoConnection)
		assert.Equal(t, "PUBLISH", ce.Command)
		assert.False(t, ce.Written)
	case <-time.After(20 * time.Second):
		t.Fatal("the PUBLISH was not given back while the dial hung")
	}
	assert.GreaterOrEqual(t, n.DownFor(time.Now()), AnywherePatience)
	select {
	case err := <-kept.err:
		t.Fatalf("the GET was given back: %v", err)
	default:
	}
}

// A request its Owner retries until a deadline waits in the offline queue past OfflineQueue, in
// order with the rest: refused, each went through a backoff of its own and came back reordered.
// One with no Owner, or no deadline, is still refused.
func TestOfflineQueueBoundsOnlyWhatNoOwnerRetries(t *testing.T) {
	hold := make(chan struct{})
	srv := fakeredis.New(t, func(*fakeredis.Conn) { <-hold })
	t.Cleanup(func() { close(hold) })
	n := startNode(t, Options{Addr: srv.Addr(), OfflineQueue: 2, ConnectTimeout: time.Minute, CommandTimeout: time.Minute})
	owner := captureOwner{err: make(chan error, 8)}
	var owned []*Request
	for i := range 4 {
		r := NewRequest("RPUSH", "k", i)
		r.Owner, r.Until = owner, time.Now().Add(time.Minute)
		owned = append(owned, r)
		n.Send(r)
	}
	alone := NewRequest("RPUSH", "k", "alone")
	n.Send(alone)
	_, err := alone.Await()
	require.ErrorIs(t, err, ErrOfflineQueueFull, "no Owner: refused past the bound")
	for _, r := range owned {
		assert.False(t, r.IsDone(), "an owned request was refused")
	}
	select {
	case err := <-owner.err:
		t.Fatalf("an owned request was given back: %v", err)
	default:
	}
}

// DownFor agrees with Connected: a connection its reader found failed is down from then, before its
// actor has heard of it (DownFor said 0 until the actor detached the connection).
func TestDownForCountsAConnectionItsReaderFoundFailed(t *testing.T) {
	stats := &counters{}
	stats.downSince.Store(downLong) // a dial failed before this connection: not what is read
	n := &Node{addr: "a:1", stats: stats}
	c := &conn{addr: "a:1", fifo: make(chan *Request, 1)}
	stats.live.Store(c)
	require.True(t, n.Connected())
	require.Zero(t, n.DownFor(time.Now()))
	var connected bool
	var down time.Duration
	c.report = func(any) { // the actor's view, as it hears of the loss
		connected, down = n.Connected(), n.DownFor(time.Now())
		close(c.fifo)
	}
	failed := time.Now()
	c.fail(nil, net.ErrClosed)
	assert.False(t, connected)
	assert.Positive(t, down)
	assert.LessOrEqual(t, down, time.Since(failed), "down since the reader found it failed")
}
