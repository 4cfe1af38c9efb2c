package node

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
)

// alwaysAlone is an Options.Alone that says one caller uses the node, whatever happens.
func alwaysAlone() bool { return true }

// waitParked returns the node's connection once its reader goroutine has parked (see lentread.go).
func waitParked(t *testing.T, n *Node) *conn {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		if c := n.stats.live.Load(); c != nil && c.rstate.Load() == readParked {
			return c
		}
	}
	t.Fatal("the reader never parked")
	return nil
}

// pingLentOrSent runs a PING on this goroutine when the node lends itself (TryRun), through its
// actor otherwise, and waits for the reply.
func pingLentOrSent(t *testing.T, n *Node) (resp.Value, error) {
	t.Helper()
	r := NewRequest("PING")
	if !n.TryRun(t.Context(), r) {
		n.Send(r)
	}
	return await(t, r)
}

// lendPing lends the node PINGs until one is read on this goroutine, so that the next TryRun finds
// the node idle and its reader parked (a refused lend means the actor's goroutine was still
// busy, finishing what came before).
func lendPing(t *testing.T, n *Node) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		waitParked(t, n)
		r := NewRequest("PING")
		lent := n.TryRun(t.Context(), r)
		if !lent {
			n.Send(r)
		}
		_, err := await(t, r)
		require.NoError(t, err)
		if lent && r.IsDone() {
			return
		}
		require.True(t, time.Now().Before(deadline), "no PING was ever read by its caller")
	}
}

// readHere runs args, a command that may run more than once, until a lent caller reads its reply
// on this goroutine (the reply is complete when TryRun returns), and returns that reply. A busy
// machine can make a reply take longer than lentReadWait; the reader reads it then.
func readHere(t *testing.T, n *Node, args ...any) (resp.Value, error) {
	t.Helper()
	for range 100 {
		lendPing(t, n)
		r := NewRequest(args...)
		lent := n.TryRun(t.Context(), r)
		if !lent {
			n.Send(r)
		}
		done := r.IsDone()
		v, err := await(t, r)
		if lent && done {
			return v, err
		}
	}
	t.Fatalf("%v: no lent caller read its reply in 100 tries", args)
	return resp.Value{}, nil
}

// waitQuiet returns once c has been quiet for probeAfter: a lent caller or the actor writing then
// peeks at the socket first.
func waitQuiet(c *conn) {
	for c.quietFor() < probeAfter {
		runtime.Gosched()
	}
}

// waitSocket returns once the parked c's socket shows the server's close (closed) or bytes
// waiting (otherwise). Only while parked may the test peek: no goroutine reads the socket then.
func waitSocket(t *testing.T, c *conn, closed bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		if pending, err := newPeeker(c.nc).peek(); (err != nil) == closed && (closed || pending) {
			return
		}
		require.True(t, time.Now().Before(deadline), "nothing reached the socket (closed: %v)", closed)
	}
}

// await waits for r's Future, failing the test if it hangs.
func await(t *testing.T, r *Request) (resp.Value, error) {
	t.Helper()
	testwait.Recv(t, r.Done(), "%s never completed", r.Name())
	return r.Await()
}

// bulk is a RESP bulk string.
func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

// pingThen completes the handshake, answers PING with PONG, and hands every other command to
// other, which answers it (or not) and reports false to close the connection.
func pingThen(other func(c *fakeredis.Conn, cmd []string) bool) func(*fakeredis.Conn) {
	return func(c *fakeredis.Conn) {
		cmd, err := c.Handshake() // the first command after it
		for err == nil {
			if cmd[0] == "PING" {
				err = c.Write("+PONG\r\n")
			} else if !other(c, cmd) {
				return
			}
			if err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	}
}

// With Alone saying one caller uses the node, the reader parks once no reply is due, and a lent
// caller reads its own reply: r is complete when TryRun returns, with no goroutine but the
// caller's involved.
func TestLentCallerReadsItsOwnReply(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone})
	_, err := n.Do(t.Context(), "SET", "k", "v")
	require.NoError(t, err)

	v, err := readHere(t, n, "GET", "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v.String())
	assert.Equal(t, int32(readParked), n.stats.live.Load().rstate.Load(), "the token was not handed back")

	// The same holds for a server error, which keeps its prefix.
	_, err = readHere(t, n, "INCR", "k")
	require.ErrorContains(t, err, "ERR value is not an integer")
}

// Without Alone the reader never parks: a lent caller writes, and the reader reads.
func TestReaderWithoutAloneNeverParks(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	for range 20 {
		_, err := pingLentOrSent(t, n)
		require.NoError(t, err)
		c := n.stats.live.Load()
		require.NotNil(t, c)
		require.Equal(t, int32(readActive), c.rstate.Load())
	}
}

// A reply slower than lentReadWait is left to the reader goroutine: TryRun returns with r pending,
// and r completes when the reply comes.
func TestSlowReplyIsLeftToTheReader(t *testing.T) {
	got, release := make(chan string, 4), make(chan struct{})
	srv := fakeredis.New(t, pingThen(func(c *fakeredis.Conn, cmd []string) bool {
		got <- cmd[1]
		<-release
		return c.Write(bulk(cmd[1])) == nil
	}))
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone})
	lendPing(t, n)

	r := NewRequest("GET", "slow")
	returned := make(chan bool)
	go func() { returned <- n.TryRun(t.Context(), r) }()
	require.Equal(t, "slow", <-got)
	require.True(t, testwait.Recv(t, returned, "TryRun waited for a reply that had not come"))
	require.False(t, r.IsDone(), "completed before the server answered")
	close(release)
	v, err := await(t, r)
	require.NoError(t, err)
	assert.Equal(t, "slow", v.String())
}

// A command another caller sends while a lent caller reads is answered through the reader: the
// lent caller hands the token back with a reply still due.
func TestCommandWrittenDuringALentReadIsAnswered(t *testing.T) {
	got := make(chan struct{}, 1)
	// The server answers GET a only once the next command has reached it, then both at once.
	srv := fakeredis.New(t, pingThen(func(c *fakeredis.Conn, cmd []string) bool {
		got <- struct{}{}
		next, err := c.ReadCommand()
		return err == nil && c.Write(bulk(cmd[1])+bulk(next[1])) == nil
	}))
	// A reply left unread would be read anyway when the node gives up on the connection after
	// CommandTimeout, beyond await's bound.
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute})

	// The lent caller gives up its read after lentReadWait, so a few rounds may pass before the
	// other command reaches the server in time for it to read its own reply.
	for round := 0; ; round++ {
		lendPing(t, n)
		lone, other := NewRequest("GET", "a"), NewRequest("GET", "b")
		go func() {
			<-got
			n.Send(other)
		}()
		lent := n.TryRun(t.Context(), lone)
		if !lent {
			n.Send(lone)
		}
		readHere := lent && lone.IsDone()
		for _, c := range []struct {
			r    *Request
			want string
		}{{lone, "a"}, {other, "b"}} {
			v, err := await(t, c.r)
			require.NoError(t, err)
			require.Equal(t, c.want, v.String())
		}
		if readHere {
			return
		}
		require.Less(t, round, 50, "the lent caller never read its reply itself")
	}
}

// A lent read that breaks the stream fails the command as the reader would (written, with the
// cause), and the connection is dialed again.
func TestBrokenLentReadFailsTheCommand(t *testing.T) {
	srv := fakeredis.New(t, pingThen(func(c *fakeredis.Conn, _ []string) bool {
		return c.Write("?garbage\r\n") == nil
	}))
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone})
	lendPing(t, n)

	r := NewRequest("GET", "k")
	require.True(t, n.TryRun(t.Context(), r))
	_, err := await(t, r)
	require.ErrorIs(t, err, resp.ErrProtocol)
	var ce *ConnError
	require.ErrorAs(t, err, &ce)
	assert.True(t, ce.Written)
	_, err = n.Do(t.Context(), "PING") // on the next connection
	require.NoError(t, err)
}

// closeWhenTold answers everything with PONG, and closes the connection when the test says so.
func closeWhenTold(closeNow <-chan struct{}) func(*fakeredis.Conn) {
	return func(c *fakeredis.Conn) {
		if _, err := c.Handshake(); err != nil || c.Write("+PONG\r\n") != nil {
			return
		}
		cmds := make(chan error)
		go func() {
			for {
				_, err := c.ReadCommand()
				cmds <- err
				if err != nil {
					return
				}
			}
		}()
		for {
			select {
			case err := <-cmds:
				if err != nil || c.Write("+PONG\r\n") != nil {
					return
				}
			case <-closeNow:
				_ = c.Close()
				<-cmds
				return
			}
		}
	}
}

// parkedUntilClosed starts a node on a server that closes the connection when told (closeNow),
// and returns once the node's reader has parked.
func parkedUntilClosed(t *testing.T) (n *Node, c *conn, closeNow chan<- struct{}, events *eventLog, srv *fakeredis.Server) {
	ch := make(chan struct{}, 1)
	srv = fakeredis.New(t, closeWhenTold(ch))
	events = newEventLog()
	n = startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, OnEvent: events.record})
	lendPing(t, n)
	return n, n.stats.live.Load(), ch, events, srv
}

// A parked connection the server closed is found before a lent command is written into it: the
// command waits for the next connection and gets its reply, and the disconnect says why. (The
// node's clock may find it first, and the command is then not lent: the outcome is the same.)
func TestLentCallerFindsTheIdleConnectionClosed(t *testing.T) {
	n, c, closeNow, events, srv := parkedUntilClosed(t)
	waitQuiet(c) // a lent caller quicker than that skips the peek
	closeNow <- struct{}{}
	waitSocket(t, c, true)
	v, err := pingLentOrSent(t, n)
	require.NoError(t, err)
	assert.Equal(t, "PONG", v.String())
	e := events.waitFor(t, EventDisconnect, 10*time.Second)
	assert.ErrorIs(t, e.Err, io.EOF)
	assert.Equal(t, 2, srv.Accepts())
}

// With no command coming, the node's clock finds a parked connection the server closed, drops it,
// saying why, and dials again.
func TestParkedConnectionClosedByTheServerIsReplaced(t *testing.T) {
	n, _, closeNow, events, _ := parkedUntilClosed(t)
	closeNow <- struct{}{}
	e := events.waitFor(t, EventDisconnect, 10*time.Second)
	assert.ErrorIs(t, e.Err, io.EOF)
	events.waitFor(t, EventReady, 10*time.Second)
	_, err := n.Do(t.Context(), "PING")
	require.NoError(t, err)
}

// Closing a node whose reader is parked ends the reader: Close returns, having waited for it.
func TestCloseWithTheReaderParked(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone})
	_, err := n.Do(t.Context(), "PING")
	require.NoError(t, err)
	c := waitParked(t, n)
	closed := make(chan error, 1)
	go func() { closed <- n.Close(time.Second) }()
	require.NoError(t, testwait.Recv(t, closed, "Close waits for the parked reader"))
	select {
	case <-c.done:
	default:
		t.Fatal("Close returned with the parked reader still running")
	}
}

// A reply that stops halfway is left to the reader once the lent caller's wait ends: the lent
// caller decodes nothing until the whole reply is in, so its ctx still bounds it.
func TestReplyCutShortIsLeftToTheReader(t *testing.T) {
	rest := make(chan struct{})
	srv := fakeredis.New(t, pingThen(func(c *fakeredis.Conn, _ []string) bool {
		if c.Write("$5\r\nab") != nil {
			return false
		}
		<-rest
		return c.Write("cde\r\n") == nil
	}))
	// Only the ctx, not the node's stall detection, can end the caller's wait in time.
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, CommandTimeout: time.Minute})
	lendPing(t, n)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	r := NewRequest("GET", "k")
	returned := make(chan bool)
	go func() { returned <- n.TryRun(ctx, r) }()
	require.True(t, testwait.Recv(t, returned, "the lent caller waited for the rest of the reply"))
	require.False(t, r.IsDone())
	close(rest)
	v, err := await(t, r)
	require.NoError(t, err)
	assert.Equal(t, "abcde", v.String())
}

// A command the actor writes itself (not lent) on a parked connection the server closed is not
// written into it: it waits for the next connection, and gets its reply.
func TestActorFindsTheIdleConnectionClosed(t *testing.T) {
	n, c, closeNow, _, srv := parkedUntilClosed(t)
	waitQuiet(c)
	closeNow <- struct{}{}
	waitSocket(t, c, true)
	r := NewRequest("PING")
	n.Send(r)
	v, err := await(t, r)
	require.NoError(t, err, "written into the closed connection")
	assert.Equal(t, "PONG", v.String())
	assert.Equal(t, 2, srv.Accepts())
}

// junkWhenTold answers PING and ECHO with PONG; after an ECHO it waits for the test, then writes
// junk and, when close is set, closes the connection.
func junkWhenTold(junkNow <-chan struct{}, junk string, close bool) func(*fakeredis.Conn) {
	return sendWhenTold(junkNow, func(c *fakeredis.Conn) error { return c.Write(junk) }, close)
}

// sendWhenTold is junkWhenTold with what to send as a function of the connection.
func sendWhenTold(junkNow <-chan struct{}, send func(*fakeredis.Conn) error, close bool) func(*fakeredis.Conn) {
	return func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			err = c.Write("+PONG\r\n")
			if err == nil && cmd[0] == "ECHO" {
				<-junkNow
				if err = send(c); close {
					_ = c.Close()
					return
				}
			}
			if err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	}
}

// parkWithJunk starts a node on a junkWhenTold server and has the junk sent (cueJunk).
func parkWithJunk(t *testing.T, junk string, close bool) (*Node, *eventLog, *fakeredis.Server) {
	junkNow := make(chan struct{}, 1)
	srv := fakeredis.New(t, junkWhenTold(junkNow, junk, close))
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, OnEvent: events.record})
	lendPing(t, n)
	cueJunk(t, n, junkNow)
	return n, events, srv
}

// cueJunk has a junkWhenTold server send its junk once the node's reader has parked, and returns
// once the junk waits on the socket and the connection has been quiet long enough to be checked
// before the next write.
func cueJunk(t *testing.T, n *Node, junkNow chan<- struct{}) {
	r := NewRequest("ECHO", "cue")
	n.Send(r)
	_, err := await(t, r)
	require.NoError(t, err)
	c := waitParked(t, n)
	waitQuiet(c)
	junkNow <- struct{}{}
	waitSocket(t, c, false)
}

// What waits on a parked connection is checked before a command is written behind it: a reply no
// command asked for, or bytes that are not RESP followed by a close (as a TLS close_notify before
// the FIN looks from below TLS), drop the connection, and the command goes to the next one, lent
// or written by the actor.
func TestJunkOnAParkedConnectionIsFoundBeforeAWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		junk  string
		close bool
		want  error
	}{
		{"a reply to no command", "-ERR unsolicited\r\n", false, ErrUnsolicitedReply},
		{"not RESP, then a close", "\x15\x03\x03\x00\x02\x01\x00", true, ErrUnsolicitedReply},
	} {
		for _, lend := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, lent %v", tc.name, lend), func(t *testing.T) {
				n, events, srv := parkWithJunk(t, tc.junk, tc.close)
				r := NewRequest("PING")
				if !lend || !n.TryRun(t.Context(), r) {
					n.Send(r)
				}
				v, err := await(t, r)
				require.NoError(t, err)
				assert.Equal(t, "PONG", v.String())
				e := events.waitFor(t, EventDisconnect, 10*time.Second)
				assert.ErrorIs(t, e.Err, tc.want)
				assert.Equal(t, 2, srv.Accepts())
			})
		}
	}
}

// A push frame the server sends on a parked connection (client tracking, say) is read and dropped
// before the next write; the connection stays.
func TestPushOnAParkedConnectionKeepsIt(t *testing.T) {
	junkNow := make(chan struct{})
	srv := fakeredis.New(t, junkWhenTold(junkNow, ">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n", false))
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, OnEvent: events.record})
	for range 20 {
		cueJunk(t, n, junkNow)
		// A lent caller checks now, or the node's clock does.
		_, err := readHere(t, n, "PING")
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Accepts(), "a push frame dropped the connection")
	assert.NotContains(t, events.types(), EventDisconnect)
}

// Push frames streaming in for longer than a check's bound, on a parked connection, are left to
// whoever reads next: the connection stays. (The check's last peek ran past its read deadline and
// took the timeout for a broken connection when a frame ended where the buffer did: 32-byte
// frames, 5 drops in 5 runs of an audit.)
func TestAStreamOfPushesOnAParkedConnectionKeepsIt(t *testing.T) {
	const push = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" // 32 bytes: divides the read buffer
	burst := strings.Repeat(push, (1<<20)/len(push))
	junkNow := make(chan struct{})
	srv := fakeredis.New(t, sendWhenTold(junkNow, func(c *fakeredis.Conn) (err error) {
		for end := time.Now().Add(400 * time.Millisecond); err == nil && time.Now().Before(end); {
			err = c.Write(burst) // the stream the server sends, not a synchronisation
		}
		return err
	}, false))
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), Alone: alwaysAlone, OnEvent: events.record})
	lendPing(t, n)
	cueJunk(t, n, junkNow)
	v, err := pingLentOrSent(t, n)
	require.NoError(t, err)
	assert.Equal(t, "PONG", v.String())
	assert.Equal(t, 1, srv.Accepts(), "the pushes dropped the connection")
	assert.NotContains(t, events.types(), EventDisconnect)
}
