package node

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
)

// A command written with less time left than the command timeout (redirected or retried late in
// its life) fails at its own deadline when its server answers nothing, not a command timeout after
// the write; the connection stays, the late reply is dropped, and the next command gets its own.
func TestLateCommandFailsAtItsDeadline(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 5 * time.Second, OnEvent: events.record})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)

	// The server reads commands but runs none until the pause ends: the connection answers
	// nothing for 1.5 s, well below the stall detection's 5 s.
	_, err = srv.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL")
	require.NoError(t, err)
	late := NewRequest("SET", "late", "ran")
	late.Until = time.Now().Add(500 * time.Millisecond) // written well before it, however loaded the machine
	n.Send(late)
	behind := NewRequest("GET", "late") // no deadline of its own: it waits out the pause
	n.Send(behind)

	_, err = late.Await()
	require.ErrorIs(t, err, ErrTimeout, "without the deadline watch the SET succeeds once the pause ends")
	require.ErrorIs(t, err, ErrLateReply)
	assert.True(t, WasWritten(err), "it was written: it may have run")
	var ce *ConnError
	assert.False(t, errors.As(err, &ce), "not a connection failure")
	assert.Contains(t, err.Error(), srv.Addr())
	assert.Contains(t, err.Error(), "SET")
	assert.False(t, behind.IsDone(), "the command behind it still waits for the server")
	assert.False(t, late.Reusable(), "a request the actor watched is never reused")

	v, err := behind.Await()
	require.NoError(t, err)
	assert.Equal(t, "ran", v.String(), "the late SET ran (it may have, said its error) and its reply was dropped")
	v, err = n.Do(ctx, "ECHO", "mine")
	require.NoError(t, err)
	assert.Equal(t, "mine", v.String())
	assert.Equal(t, []EventType{EventConnect, EventReady}, events.types(), "the connection stayed")

	// A late request whose Owner says more of it (a retry, after the TRYAGAIN it names) fails
	// with what the Owner makes of the error.
	_, err = srv.Do(ctx, "CLIENT", "PAUSE", "1000", "ALL")
	require.NoError(t, err)
	retry := NewRequest("GET", "late")
	retry.Until = time.Now().Add(300 * time.Millisecond)
	retry.Owner = lateNamer{}
	n.Send(retry)
	_, err = retry.Await()
	require.ErrorIs(t, err, ErrLateReply)
	require.ErrorIs(t, err, errBefore, "what Late added")
	assert.Contains(t, err.Error(), srv.Addr())

	// The Owner is asked when the request is written, while the actor holds it, not at the
	// deadline: by then the Owner may have had it back (a MOVED) and changed it.
	_, err = srv.Do(ctx, "CLIENT", "PAUSE", "1000", "ALL")
	require.NoError(t, err)
	asked := &askedOwner{last: errBefore, asked: make(chan struct{})}
	moved := NewRequest("GET", "late")
	moved.Until = time.Now().Add(300 * time.Millisecond)
	moved.Owner = asked
	n.Send(moved)
	testwait.Recv(t, asked.asked, "Late was not asked when the request was written")
	require.False(t, moved.IsDone())
	asked.last = errors.New("what the Owner met after") // the Owner's own, ordered after Late
	_, err = moved.Await()
	require.ErrorIs(t, err, errBefore, "what Late said when asked")

	// A reply that comes in time completes the request as usual, and the actor forgets it.
	inTime := NewRequest("GET", "late")
	inTime.Until = time.Now().Add(time.Second)
	n.Send(inTime)
	v, err = inTime.Await()
	require.NoError(t, err)
	assert.Equal(t, "ran", v.String())
}

// A request written with most of the command timeout left is not watched: its Future stays
// reusable.
func TestFreshCommandIsNotWatched(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 5 * time.Second})
	r := &Request{Args: []any{"PING"}}
	r.Detach()
	r.Init()
	r.Until = time.Now().Add(5 * time.Second)
	n.Send(r)
	_, err := r.Await()
	require.NoError(t, err)
	assert.True(t, r.Reusable())
}

// A caller that gives up on a late request (its ctx ends first, as in api.Do) asks Reusable while
// the actor may still be writing pinned: Reusable reads pinned only after a reply completed the
// request (a race found in review). The test learns that the command was written from the server's
// side of the socket, which orders nothing between the actor and the caller, as in a real Do.
func TestGivingUpOnALateRequest(t *testing.T) {
	written := make(chan struct{}, 1)
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			if cmd[0] == "SET" {
				written <- struct{}{} // and no reply
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 5 * time.Second})
	r := &Request{Args: []any{"SET", "k", "v"}}
	r.Detach()
	r.Init()
	r.Until = time.Now().Add(time.Second)
	n.Send(r)
	<-written

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.AwaitContext(gone)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, r.Reusable())
}

// A late request the server refuses (TRYAGAIN, MOVED...) goes back to its Owner, which may keep
// it (a backoff) or send it elsewhere: the node that wrote it no longer fails it at its deadline.
// (It did, with ErrLateReply, "written and may have run", for a command no server ran: 5 of 100
// Sends of a DEL that met TRYAGAIN until CommandTimeout, in a review.)
func TestLateRequestGivenBackLeavesTheWatch(t *testing.T) {
	n := tryAgainNode(t, nil)
	owner := &keepingOwner{got: make(chan error, 1)}
	givenBackIsLeft(t, n, owner, owner.got)
}

// tryAgainNode starts a node on a server that answers GET with TRYAGAIN, once hold is closed (nil:
// at once), PING with PONG, and nothing else (a SET waits for ever).
func tryAgainNode(t *testing.T, hold <-chan struct{}) *Node {
	t.Helper()
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			switch cmd[0] {
			case "GET":
				if hold != nil {
					select {
					case <-hold:
					case <-time.After(testwait.Bound): // and the test fails on what it awaits
					}
				}
				err = c.Write("-TRYAGAIN Multiple keys request during rehashing of slot\r\n")
			case "PING":
				err = c.Write("+PONG\r\n")
			}
		}
	})
	return startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 5 * time.Second})
}

// givenBackIsLeft sends n a GET late in its life (its server answers TRYAGAIN, as got shows once
// owner has it back), then checks that the node has not failed it once past its deadline.
func givenBackIsLeft(t *testing.T, n *Node, owner Owner, got <-chan error) {
	t.Helper()
	refused := NewRequest("GET", "k")
	// Room to be written on a loaded machine (CI once failed it unwritten at 100 ms).
	refused.Until = time.Now().Add(500 * time.Millisecond)
	refused.Owner = owner
	n.Send(refused)
	err := testwait.Recv(t, got, "the TRYAGAIN was not given back")
	require.ErrorIs(t, err, resp.ErrTryAgain)

	// A request the node keeps, with a later deadline: once it has failed late, the node has
	// checked its watches past the refused request's deadline. Its deadline is well after it is
	// sent, however late that is: one past it at the write would not be written (and not watched).
	unanswered := NewRequest("SET", "k", "v")
	unanswered.Until = later(refused.Until, time.Now()).Add(200 * time.Millisecond)
	n.Send(unanswered)
	_, err = unanswered.Await()
	require.ErrorIs(t, err, ErrLateReply)
	assert.False(t, refused.IsDone(), "the node failed a request its Owner had taken back")
	refused.Future.Fail(errors.New("the owner's backoff ended")) // as the dispatcher would
}

// The node's deadline watch and the reader meet at the deadline: the watch finds the request
// still on the connection, and as it makes its error the server's TRYAGAIN comes and the reader
// gives the request back. The Owner has it then, and the node does not fail it too. (It did,
// "written and may have run": 3 of 7414 requests given back at their deadline, in a review's run
// with the natural timing; here the moment is held open.)
func TestLateRequestGivenBackAsItsWatchExpires(t *testing.T) {
	making := make(chan struct{}) // the watch is making the request's error
	n := tryAgainNode(t, making)
	owner := &meetingOwner{got: make(chan error, 1), making: making, returned: make(chan struct{})}
	givenBackIsLeft(t, n, owner, owner.got)
}

// meetingOwner keeps the one request given back to it, and its Late holds the watch's error
// until then.
type meetingOwner struct {
	got      chan error
	making   chan struct{} // closed as the watch makes the error
	returned chan struct{} // closed when the request was given back
}

func (o *meetingOwner) Return(_ *Request, err error) bool {
	o.got <- err
	close(o.returned)
	return true
}

func (o *meetingOwner) Late(*Request) func(error) error {
	return func(err error) error {
		close(o.making)
		select {
		case <-o.returned:
		case <-time.After(testwait.Bound): // and the test fails on what it awaits
		}
		return err
	}
}

// A late request the node's watch has claimed, to fail it at its deadline, is left to the watch
// when its reply comes that instant: not given back to its Owner, and not completed with the
// reply. (It was completed with the bare TRYAGAIN, or a replica's unchecked Nil, which matched
// no ErrTimeout: 22 of 120,000 requests in a review's run.)
func TestClaimedLateRequestIsLeftToItsWatch(t *testing.T) {
	release := make(chan struct{})
	n := tryAgainNode(t, release)
	owner := &keepingOwner{got: make(chan error, 1)}
	r := NewRequest("GET", "k")
	r.Until = time.Now().Add(time.Second) // late: watched
	r.Owner = owner
	n.Send(r)
	require.Eventually(t, func() bool { return r.watched.Load() != 0 }, testwait.Bound, time.Millisecond)
	// As the watch does at the deadline, just before it fails the request.
	require.True(t, r.watched.CompareAndSwap(r.watched.Load(), lateClaimed))
	close(release)
	ping := NewRequest("PING")
	n.Send(ping)
	_, err := await(t, ping) // the reader has read the GET's TRYAGAIN before
	require.NoError(t, err)
	assert.False(t, r.IsDone(), "completed with the reply, not by its watch")
	assert.Empty(t, owner.got, "given back to its Owner")
	r.Future.Fail(errors.New("what the watch fails it with"))
}

// A late request the node took while connected, then queued again because the connection had
// failed before the request was written (a parked reader had not seen the server close it), fails
// at its own deadline, not a command timeout after it came. (It waited out the command timeout:
// 3.1 s against its 200 ms, in a review.)
func TestLateRequestQueuedAgainFailsAtItsDeadline(t *testing.T) {
	srv := fakeredis.New(t, pongs)
	// No reconnect within the test: one accepted (and closed) could take the GET before its close
	// reached the client. (The server stops listening, but the first reconnect comes 10–20 ms
	// after a loss, within the GET's 200 ms, and its freed port may be another's by then: CI run
	// 87 saw the GET written into such a connection.)
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute,
		Reconnect: func(int) time.Duration { return time.Hour }})
	_, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	// Parked, not still between the PING's reply and its park: an active reader would see the
	// close only after the GET was written into the connection.
	c := waitParked(t, n)
	// Unseen by the parked reader.
	srv.Close()
	// And the close has reached the client's socket, where the write's probe finds it: the write
	// looks only at a connection unread for probeAfter (a loop's next command does not).
	for bound := time.Now().Add(testwait.Bound); !idleBroken(c.nc) || c.quietFor() < probeAfter; runtime.Gosched() {
		require.True(t, time.Now().Before(bound), "the close never reached the client")
	}

	r := NewRequest("GET", "k")
	r.Until = time.Now().Add(200 * time.Millisecond)
	n.Send(r)
	_, err = await(t, r) // bounded well below the command timeout
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err))
}

// A request queued while its node connects, whose deadline passes before the connection is up,
// is not written when it comes up: it fails unwritten. (It was written, and ran, when the
// connection came before the node's next tick: 3 runs of 3 in a review.)
func TestQueuedRequestPastItsDeadlineIsNotWrittenAtConnect(t *testing.T) {
	var incrs atomic.Int32
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		time.Sleep(50 * time.Millisecond) // a slow server: the connection comes up late
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			if cmd[0] == "INCR" {
				incrs.Add(1)
				err = c.Write(":1\r\n")
				continue
			}
			err = c.Write("+PONG\r\n")
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 5 * time.Second})
	r := NewRequest("INCR", "k")
	r.Until = time.Now().Add(10 * time.Millisecond)
	n.Send(r)
	_, err := await(t, r)
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err))
	_, err = n.Do(context.Background(), "PING") // after the INCR, had it been written
	require.NoError(t, err)
	assert.Zero(t, incrs.Load(), "the server ran it")
}

// keepingOwner takes every request given back and keeps it, as the dispatcher does in a backoff.
type keepingOwner struct{ got chan error }

func (o *keepingOwner) Return(_ *Request, err error) bool {
	o.got <- err
	return true
}

var errBefore = errors.New("the error met before")

// lateNamer is a LateOwner that takes no request back and joins errBefore to a late one's error.
type lateNamer struct{}

func (lateNamer) Return(*Request, error) bool { return false }
func (lateNamer) Late(*Request) func(error) error {
	return func(err error) error { return errors.Join(err, errBefore) }
}

var _ LateOwner = lateNamer{}

// askedOwner is a LateOwner whose Late says last, as it is when asked, and closes asked.
type askedOwner struct {
	last  error
	asked chan struct{}
}

func (o *askedOwner) Return(*Request, error) bool { return false }
func (o *askedOwner) Late(*Request) func(error) error {
	last := o.last
	close(o.asked)
	return func(err error) error { return errors.Join(err, last) }
}

// idleBroken reports whether a peek at nc, which no goroutine reads, finds it closed or not quiet.
func idleBroken(nc net.Conn) bool {
	pending, err := newPeeker(nc).peek()
	return pending || err != nil
}
