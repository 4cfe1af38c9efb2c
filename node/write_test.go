package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
)

// gatedServer reads every command as it comes and answers each with PONG, but none before answer
// is opened. It counts the commands it read.
type gatedServer struct {
	*fakeredis.Server
	answer *gate
	read   atomic.Int64
}

func newGatedServer(t *testing.T) *gatedServer {
	g := &gatedServer{answer: newGate()}
	g.Server = fakeredis.New(t, func(c *fakeredis.Conn) {
		due := make(chan struct{}, 1<<16)
		answered := make(chan struct{})
		go func() { // the answers: each read command's, once open
			defer close(answered)
			<-g.answer.ch
			for range due {
				if c.Write("+PONG\r\n") != nil {
					return
				}
			}
		}()
		_, err := c.Handshake()
		for ; err == nil; _, err = c.ReadCommand() {
			g.read.Add(1)
			due <- struct{}{}
		}
		close(due)
		_ = c.Close()
		g.answer.open()
		<-answered
	})
	t.Cleanup(g.answer.open)
	return g
}

// gate is a channel that open closes, once, however many times and from however many goroutines
// it is called.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// sendPings sends count PINGs to n and returns them.
func sendPings(n *Node, count int) []*Request {
	rs := make([]*Request, count)
	for i := range rs {
		rs[i] = NewRequest("PING")
		n.Send(rs[i])
	}
	return rs
}

// A burst of more commands than the reader's queue holds (fifoSize), on a connection whose reader
// is parked, is written in full as the server answers: what the queue had no room for waits in the
// batch, and the reader asks for it once it has made room. Each command is written once.
func TestABurstLargerThanTheReadersQueueIsWritten(t *testing.T) {
	srv := newGatedServer(t)
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute})
	waitParked(t, n)
	rs := sendPings(n, 2*fifoSize+100)
	srv.answer.open()
	for _, r := range rs {
		_, err := await(t, r)
		require.NoError(t, err)
	}
	assert.EqualValues(t, len(rs), srv.read.Load(), "commands the server read")
}

// While the reader's queue is full (a server answering nothing), the node keeps its deadlines: a
// command written with a deadline sooner than the command timeout fails at it, as written (it may
// have run); one waiting for room, or sent meanwhile, fails at it unwritten. (The actor waited for
// room with its clock stopped: in a review, 200 ms deadlines failed at the 5 s command timeout.)
func TestAFullReadersQueueKeepsDeadlines(t *testing.T) {
	srv := fakeredis.New(t, blackhole)
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute})
	waitParked(t, n)
	late := func() *Request {
		r := NewRequest("GET", "k")
		r.Until = time.Now().Add(500 * time.Millisecond) // written well before it, however loaded the machine
		n.Send(r)
		return r
	}
	written := late()
	sendPings(n, fifoSize) // the queue is full; they fail with the node's close
	waiting := late()
	_, err := await(t, written) // bounded well below the command timeout
	require.ErrorIs(t, err, ErrLateReply)
	assert.True(t, WasWritten(err))
	_, err = await(t, waiting)
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err), "%v", err)
	_, err = await(t, late()) // sent while the queue is full
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err), "%v", err)
}

// A command that reaches a connected node past its deadline (routed again late in its life) is not
// written: it fails unwritten, with what its Owner met before, and the server never sees it. (It
// was written, and ran.)
func TestRequestPastItsDeadlineIsNotWritten(t *testing.T) {
	var incrs atomic.Int32
	srv := fakeredis.New(t, pingThen(func(c *fakeredis.Conn, cmd []string) bool {
		incrs.Add(1)
		return c.Write(":1\r\n") == nil
	}))
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: time.Minute})
	_, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	for _, lentBefore := range []bool{false, true} {
		r := NewRequest("INCR", "k")
		r.Until = time.Now().Add(-time.Millisecond)
		r.Owner = lateNamer{}
		if lentBefore { // lent with DeferRead by another node, which gave it back (a MOVED)
			r.lentConn, r.DeferRead = &conn{}, true
		}
		n.Send(r)
		_, err = await(t, r)
		require.ErrorIs(t, err, ErrTimeout, "lent before: %v", lentBefore)
		assert.ErrorIs(t, err, errBefore)
		assert.False(t, WasWritten(err), "%v", err)
	}
	_, err = n.Do(context.Background(), "PING") // after the INCRs, had they been written
	require.NoError(t, err)
	assert.Zero(t, incrs.Load(), "the server ran it")
}

// A command whose context ends while it waits for room on the reader's queue is not written: it
// fails with its context's error. (It was written once there was room, the check of its context
// made only when it came.)
func TestCommandCancelledWhileWaitingForRoomIsNotWritten(t *testing.T) {
	srv := newGatedServer(t)
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute})
	waitParked(t, n)
	rs := sendPings(n, fifoSize) // the queue is full
	ctx, cancel := context.WithCancel(context.Background())
	set := NewRequest("SET", "k", "v")
	set.Ctx = ctx
	n.Send(set)
	// A command whose context has ended fails as the node takes it: once it has, the node has taken
	// the SET too, and batched it behind the full queue.
	ended, end := context.WithCancel(context.Background())
	end()
	probe := NewRequest("PING")
	probe.Ctx = ended
	n.Send(probe)
	_, err := await(t, probe)
	require.ErrorIs(t, err, context.Canceled)
	cancel()
	_, err = await(t, set) // at the node's next tick
	require.ErrorIs(t, err, context.Canceled)
	srv.answer.open()
	for _, r := range rs {
		_, err := await(t, r)
		require.NoError(t, err)
	}
	_, err = n.Do(context.Background(), "PING") // after the SET, had it been written
	require.NoError(t, err)
	assert.EqualValues(t, len(rs)+1, srv.read.Load(), "commands the server read: the SET too")
}

// A graceful close writes what waits for room on the reader's queue before it ends the connection:
// every command sent before it is answered, and the close returns once they are.
func TestCloseWritesWhatWaitsForRoom(t *testing.T) {
	srv := newGatedServer(t)
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute})
	waitParked(t, n)
	rs := sendPings(n, fifoSize+100)
	closed := make(chan error, 1)
	go func() { closed <- n.Close(time.Minute) }()
	// The server answers once the node has taken the close: a command with its context cancelled
	// then fails with ErrClosed, not with its context's error.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for bound := time.Now().Add(testwait.Bound); ; {
		r := NewRequest("PING")
		r.Ctx = cancelled
		n.Send(r)
		if _, err := await(t, r); errors.Is(err, ErrClosed) {
			break
		}
		require.True(t, time.Now().Before(bound), "the node never took the close")
	}
	srv.answer.open()
	for _, r := range rs {
		_, err := await(t, r)
		require.NoError(t, err)
	}
	require.NoError(t, <-closed)
	assert.EqualValues(t, len(rs), srv.read.Load(), "commands the server read")
}

// stallingServer answers the handshake's PING, then reads nothing until resume is closed, then
// answers every command with +OK. It counts the commands it read after the PING.
type stallingServer struct {
	*fakeredis.Server
	resume *gate
	read   atomic.Int64
}

func newStallingServer(t *testing.T) *stallingServer {
	s := &stallingServer{resume: newGate()}
	s.Server = fakeredis.New(t, func(c *fakeredis.Conn) {
		if _, err := c.Handshake(); err != nil || c.Write("+PONG\r\n") != nil {
			return
		}
		<-s.resume.ch
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
			s.read.Add(1) // before the reply: a client that has it sees the command counted
			if c.Write("+OK\r\n") != nil {
				return
			}
		}
	})
	t.Cleanup(s.resume.open) // before the server's Close, which waits for the handler
	return s
}

// A write the server takes no more of (paused, or far behind) does not stop the node: the rest is
// written at its ticks, in order, and meanwhile its clock runs, so a command sent behind it fails
// at its deadline, unwritten. Once the server reads again, the commands cut short are answered.
// (The actor waited in the write for up to the command timeout: the GET failed after a minute.)
func TestAWriteTheServerTakesNoMoreOfDoesNotStopTheNode(t *testing.T) {
	srv := newStallingServer(t)
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: time.Minute})
	_, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	big := strings.Repeat("v", 4<<20)
	var sets []*Request
	for range 4 { // more than the sockets' buffers hold
		r := NewRequest("SET", "k", big)
		n.Send(r)
		sets = append(sets, r)
	}
	get := NewRequest("GET", "k")
	get.Until = time.Now().Add(200 * time.Millisecond)
	n.Send(get)
	_, err = await(t, get) // bounded well below the command timeout
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err), "%v", err)
	srv.resume.open()
	for _, r := range sets {
		v, err := await(t, r)
		require.NoError(t, err)
		assert.Equal(t, "OK", v.String())
	}
	_, err = n.Do(context.Background(), "PING")
	require.NoError(t, err)
	assert.EqualValues(t, len(sets)+1, srv.read.Load(), "commands the server read: the SETs and the last PING, not the GET")
}

// cutConn is a connection whose writes take room bytes in all, then time out, as a socket whose
// server takes no more does.
type cutConn struct {
	net.Conn
	room int
}

func (c *cutConn) Write(b []byte) (int, error) {
	n := min(len(b), c.room)
	c.room -= n
	if n < len(b) {
		return n, fmt.Errorf("write tcp: %w", os.ErrDeadlineExceeded)
	}
	return n, nil
}

func (c *cutConn) SetWriteDeadline(time.Time) error { return nil }

// A write cut short hands the reader only the requests it began, keeps the rest of the last one
// begun to be written first, and leaves those it did not begin batched, unwritten: they may still
// be refused at their deadline, and fail as never written if the connection goes. (All of them
// were the reader's, as written, their bytes sent at the next ticks, past their deadline or not.)
func TestACutWriteLeavesWhatItDidNotBeginBatched(t *testing.T) {
	a := &nodeActor{opts: Options{Addr: "a:1", CommandTimeout: time.Minute}, tickEvery: 100 * time.Millisecond,
		stats: &counters{}}
	sock := &cutConn{}
	c := &conn{nc: sock, fifo: make(chan *Request, fifoSize), resumable: true, wake: make(chan struct{}, 1)}
	rs := []*Request{NewRequest("SET", "a", "1"), NewRequest("SET", "b", "2"), NewRequest("SET", "c", "3")}
	for _, r := range rs {
		a.encode(r)
	}
	second := string(a.wbuf[a.starts[1]:a.starts[2]])
	sock.room = a.starts[1] + 3 // the first request whole, 3 bytes of the second
	a.write(c, len(rs), time.Now())
	require.Len(t, c.fifo, 2, "begun: the reader's")
	assert.Same(t, rs[0], <-c.fifo)
	assert.Same(t, rs[1], <-c.fifo)
	assert.Equal(t, []*Request{rs[2]}, a.batch, "not begun: batched")
	third, err := resp.AppendCommand(nil, "SET", "c", "3")
	require.NoError(t, err)
	assert.Equal(t, string(third), string(a.wbuf), "its bytes, alone")
	assert.EqualValues(t, 2, c.expected.Load(), "replies due")
	assert.True(t, c.cut)
	assert.Equal(t, second[3:], string(c.unsent), "the rest of the second")
	assert.EqualValues(t, 1, a.stats.writes.Load())

	c.unsent, c.cut = nil, false // as writeUnsent leaves them; the server still takes nothing
	a.write(c, 1, time.Now())
	assert.Empty(t, c.fifo, "nothing begun")
	assert.Equal(t, []*Request{rs[2]}, a.batch)
	assert.EqualValues(t, 2, c.expected.Load(), "replies due")
	assert.EqualValues(t, 1, a.stats.writes.Load(), "a write of nothing is not counted")
}

// The stall detection's mark for replies written since the last is the time of the last write, not
// of the tick that notes them: a reply due for the command timeout since its write ends the
// connection at the first tick after, not up to a tick later.
func TestStallMarksTakeTheWritesTime(t *testing.T) {
	c := &conn{}
	written := time.Now()
	c.wroteAt = written
	c.expected.Store(1)
	tick := written.Add(80 * time.Millisecond)
	since, _, due := c.oldestDue(tick, 0)
	require.True(t, due)
	assert.Equal(t, written, since)
	c.wroteAt = time.Time{} // no write known: the tick's time
	c.expected.Store(2)
	c.answered.Store(1)
	since, _, due = c.oldestDue(tick.Add(time.Second), 1)
	require.True(t, due)
	assert.Equal(t, tick.Add(time.Second), since)
}

// A write cut short in a large value hands the connection the rest of it without copying it, and
// the batch's buffer never writes over it: the requests not begun, and those encoded after, keep
// their own bytes. (The rest was copied, then moved down at every tick: a 64 MiB SET took 656–736
// ms through a node, 381 ms without the copies; BenchmarkLargeValue.)
func TestACutWriteHandsOverALargeValuesRest(t *testing.T) {
	a := &nodeActor{opts: Options{Addr: "a:1", CommandTimeout: time.Minute}, tickEvery: 100 * time.Millisecond,
		stats: &counters{}}
	sock := &cutConn{}
	c := &conn{nc: sock, fifo: make(chan *Request, fifoSize), resumable: true, wake: make(chan struct{}, 1)}
	big := strings.Repeat("v", 4*keepBufBytes)
	rs := []*Request{NewRequest("SET", "a", "1"), NewRequest("SET", "b", big), NewRequest("SET", "c", "3")}
	for _, r := range rs {
		a.encode(r)
	}
	second := string(a.wbuf[a.starts[1]:a.starts[2]])
	wrote := a.starts[1] + 3
	sock.room = wrote
	buf, size := uintptr(unsafe.Pointer(unsafe.SliceData(a.wbuf))), uintptr(cap(a.wbuf))
	a.write(c, len(rs), time.Now())
	require.Len(t, c.fifo, 2)
	assert.True(t, c.cut)
	require.Equal(t, second[3:], string(c.unsent), "the rest of the large value")
	assert.Equal(t, buf+uintptr(wrote), uintptr(unsafe.Pointer(unsafe.SliceData(c.unsent))), "not copied")
	left := uintptr(unsafe.Pointer(unsafe.SliceData(a.wbuf)))
	assert.False(t, left >= buf && left < buf+size, "the batch left has a buffer of its own: it keeps the large one alive no longer")
	assert.Less(t, cap(a.wbuf), keepBufBytes)
	for range 64 { // more encoded behind it, past the end of the rest
		a.encode(NewRequest("SET", "d", strings.Repeat("w", 1000)))
	}
	assert.Equal(t, second[3:], string(c.unsent), "untouched")
	third, err := resp.AppendCommand(nil, "SET", "c", "3")
	require.NoError(t, err)
	assert.Equal(t, string(third), string(a.wbuf[:len(third)]), "the request not begun keeps its bytes")

	sock.room = 1000 // the server takes a little more, at a tick
	a.c = c
	a.writeUnsent(time.Now())
	assert.True(t, c.cut)
	assert.Equal(t, second[1003:], string(c.unsent), "what is left, where it was")
}

// A connection whose reader found it failed (the server closed it: its idle timeout, a CLIENT
// KILL) takes no more writes while the actor has yet to hear of it: the batch waits, unwritten, for
// the next connection. (It was written, and failed as may-have-run. Against servers closing idle
// connections most such failures come from writes that reach the server as it closes: this does
// not remove those; HealthCheckInterval does.)
func TestALostConnectionTakesNoMoreWrites(t *testing.T) {
	a := &nodeActor{opts: Options{Addr: "a:1", CommandTimeout: time.Minute}, tickEvery: 100 * time.Millisecond,
		stats: &counters{}}
	sock := &cutConn{room: 1 << 20}
	c := &conn{nc: sock, fifo: make(chan *Request, fifoSize), resumable: true, wake: make(chan struct{}, 1)}
	a.c = c
	c.lost.Store(true)
	r := NewRequest("INCR", "n")
	a.encode(r)
	a.flush()
	assert.Equal(t, 1<<20, sock.room, "nothing written")
	assert.Equal(t, []*Request{r}, a.batch, "batched, for the next connection")
	assert.Zero(t, c.expected.Load())
	assert.False(t, r.IsDone())
}
