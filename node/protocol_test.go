package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testlog"
	"github.com/actoredis/actoredis/resp"
)

// blackhole completes the handshake, then reads every command and answers none: a server that hung
// with its connections open.
func blackhole(c *fakeredis.Conn) {
	if _, err := c.Handshake(); err != nil {
		return
	}
	for {
		if _, err := c.ReadCommand(); err != nil {
			return
		}
	}
}

// serveOnce answers the first command after the handshake with reply, then echoes PONG to every
// later command on that connection; later connections get PONG for everything.
func serveOnce(reply string) func(*fakeredis.Conn) {
	first := make(chan struct{}, 1)
	first <- struct{}{}
	return func(c *fakeredis.Conn) {
		if _, err := c.Handshake(); err != nil {
			return
		}
		select {
		case <-first:
			_ = c.Write(reply)
			if strings.HasPrefix(reply, "$") || strings.HasPrefix(reply, "*") {
				return // a cut-off or hostile reply: close
			}
		default:
			_ = c.Write("+PONG\r\n")
		}
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
			if c.Write("+PONG\r\n") != nil {
				return
			}
		}
	}
}

func TestHostileReplies(t *testing.T) {
	cases := []struct {
		name  string
		reply string
		want  error
	}{
		{"garbage", "?this is not RESP\r\n", resp.ErrProtocol},
		{"10 GB bulk header", "$10000000000\r\n", resp.ErrBulkTooLong},
		{"10k-deep nesting", strings.Repeat("*1\r\n", 10_000) + ":1\r\n", resp.ErrTooDeep},
		{"closed mid-reply", "$10\r\nhel", io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeredis.New(t, serveOnce(tc.reply))
			events := newEventLog()
			n := startNode(t, Options{Addr: srv.Addr(), OnEvent: events.record,
				Reconnect: func(int) time.Duration { return time.Millisecond }})
			_, err := n.Do(context.Background(), "GET", "k")
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, ErrConnection)
			assert.True(t, WasWritten(err), "the command was written: it may have run")
			assert.Contains(t, err.Error(), srv.Addr())
			assert.Contains(t, err.Error(), "GET")
			// The node drops the broken connection and serves again on a new one.
			events.waitFor(t, EventReady, 5*time.Second)
			v, err := n.Do(context.Background(), "PING")
			require.NoError(t, err)
			assert.Equal(t, "PONG", v.String())
		})
	}
}

func TestUnsolicitedReplyDropsTheConnection(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		if err != nil {
			return
		}
		// Answer the command, then send one reply more that nobody asked for.
		_ = c.Write("+PONG\r\n+EXTRA\r\n")
		_ = cmd
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
			_ = c.Write("+PONG\r\n")
		}
	})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), OnEvent: events.record,
		Reconnect: func(int) time.Duration { return time.Millisecond }})
	v, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	assert.Equal(t, "PONG", v.String())
	e := events.waitFor(t, EventDisconnect, 5*time.Second)
	assert.ErrorIs(t, e.Err, ErrUnsolicitedReply)
	events.waitFor(t, EventReady, 5*time.Second)
}

func TestSlowReplyAbandonedKeepsOrder(t *testing.T) {
	release := make(chan struct{})
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			if cmd[0] == "SLOW" {
				<-release
			}
			if c.Write("$"+strconv.Itoa(len(cmd[1]))+"\r\n"+cmd[1]+"\r\n") != nil {
				return
			}
			cmd, err = c.ReadCommand()
		}
	})
	n := startNode(t, Options{Addr: srv.Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := n.Do(ctx, "SLOW", "first")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	after := NewRequest("ECHO", "second")
	n.Send(after)
	close(release)
	v, err := after.Await()
	require.NoError(t, err)
	assert.Equal(t, "second", v.String(), "the late reply to the abandoned command was dropped in order")
}

func TestStalledConnectionTimesOut(t *testing.T) {
	srv := fakeredis.New(t, blackhole)
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 300 * time.Millisecond, OnEvent: events.record})
	r := NewRequest("GET", "k")
	n.Send(r)
	_, err := r.Await() // bounded by the command timeout
	assert.ErrorIs(t, err, ErrTimeout)
	assert.True(t, WasWritten(err))
	e := events.waitFor(t, EventDisconnect, 5*time.Second)
	assert.True(t, errors.Is(e.Err, ErrTimeout))
}

// TestSlowServerCannotHoldACommandPastTheTimeout: a server that answers, but one reply every
// 150 ms, holds the commands at the back of its backlog for longer than the command timeout. The
// connection is dropped once its oldest reply due is a command timeout late, and the commands still
// waiting fail with ErrTimeout (written: they may have run). A check that waited for a command
// timeout with no reply at all never fired while replies trickled in.
func TestSlowServerCannotHoldACommandPastTheTimeout(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			time.Sleep(150 * time.Millisecond) // the server's pace, not a synchronisation
			if c.Write("+"+strings.ToUpper(cmd[0])+"\r\n") != nil {
				return
			}
			cmd, err = c.ReadCommand()
		}
	})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 500 * time.Millisecond, OnEvent: events.record})
	reqs := make([]*Request, 10)
	for i := range reqs {
		reqs[i] = NewRequest("PING")
		n.Send(reqs[i])
	}
	v, err := reqs[0].Await()
	require.NoError(t, err, "the first reply comes in 150 ms")
	assert.Equal(t, "PING", v.String())
	_, err = reqs[9].Await() // its reply would come 1.5 s after the write
	assert.ErrorIs(t, err, ErrTimeout)
	assert.True(t, WasWritten(err))
	e := events.waitFor(t, EventDisconnect, 5*time.Second)
	assert.ErrorIs(t, e.Err, ErrTimeout)
}

func TestOfflineQueueBound(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {}) // accepts and hangs up at once
	n := startNode(t, Options{Addr: srv.Addr(), OfflineQueue: 10, CommandTimeout: 500 * time.Millisecond,
		Reconnect: func(int) time.Duration { return time.Hour }})
	reqs := make([]*Request, 20)
	for i := range reqs {
		reqs[i] = NewRequest("PING")
		n.Send(reqs[i])
	}
	full := 0
	for _, r := range reqs {
		_, err := r.Await()
		require.Error(t, err)
		if errors.Is(err, ErrOfflineQueueFull) {
			full++
		} else {
			assert.ErrorIs(t, err, ErrTimeout)
		}
	}
	assert.Equal(t, 10, full, "past the bound, commands fail at once")
}

func TestPushFramesGoToTheHandler(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			// A pub/sub message pushed ahead of the reply, as RESP3 allows at any time.
			if c.Write(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n+"+cmd[0]+"\r\n") != nil {
				return
			}
			cmd, err = c.ReadCommand()
		}
	})
	pushes := make(chan resp.Value, 4)
	n := startNode(t, Options{Addr: srv.Addr(), OnPush: func(v resp.Value) { pushes <- v }})
	for _, name := range []string{"PING", "ECHO"} {
		v, err := n.Do(context.Background(), name)
		require.NoError(t, err)
		assert.Equal(t, name, v.String(), "the push frame did not take the command's place")
		push := <-pushes
		assert.Equal(t, resp.KindPush, push.Kind())
		assert.Equal(t, "hi", push.Index(2).String())
	}

	// A handler that panics is the user's bug, run on the reader goroutine: logged, and the
	// connection goes on answering.
	logs := &testlog.Buffer{}
	n = startNode(t, Options{Addr: srv.Addr(), Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OnPush: func(resp.Value) { panic("push handler bug") }})
	for _, name := range []string{"PING", "ECHO"} {
		v, err := n.Do(context.Background(), name)
		require.NoError(t, err)
		assert.Equal(t, name, v.String())
	}
	assert.Contains(t, logs.String(), "push handler bug")
}

// More commands than the reader's queue holds, to a server that answers none: the node actor must
// not wait on the full queue for longer than the command timeout, so every command fails with
// ErrTimeout, the connection is dropped, and Close returns.
func TestFullQueueToAStalledServerTimesOut(t *testing.T) {
	srv := fakeredis.New(t, blackhole)
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 300 * time.Millisecond, OnEvent: events.record,
		Reconnect: func(int) time.Duration { return time.Hour }})
	events.waitFor(t, EventReady, 5*time.Second)
	rs := make([]*Request, fifoSize+1000)
	for i := range rs {
		rs[i] = NewRequest("GET", "k")
		n.Send(rs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, r := range rs {
		_, err := r.AwaitContext(ctx)
		require.NotErrorIs(t, err, context.DeadlineExceeded, "command %d of %d still waits", i, len(rs))
		require.ErrorIs(t, err, ErrTimeout, "command %d", i)
		if i < fifoSize {
			require.True(t, WasWritten(err), "command %d", i)
		} // the later ones may have waited for the connection instead, and expired unwritten
	}
	events.waitFor(t, EventDisconnect, 5*time.Second)
	closed := make(chan error, 1)
	go func() { closed <- n.Close(time.Second) }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
}

// The stall clock starts again on a new connection: after a connection was dropped for answering
// nothing, a command on the next one gets the whole command timeout, not a tick.
func TestStallClockRestartsOnReconnect(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		if _, err := c.Handshake(); err != nil {
			return
		}
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
	const timeout = 400 * time.Millisecond
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: timeout, OnEvent: events.record,
		Reconnect: func(int) time.Duration { return time.Millisecond }})
	events.waitFor(t, EventReady, 5*time.Second)
	first := NewRequest("GET", "k")
	n.Send(first)
	_, err := first.Await()
	require.ErrorIs(t, err, ErrTimeout)
	events.waitFor(t, EventDisconnect, 5*time.Second)
	events.waitFor(t, EventReady, 5*time.Second)

	second := NewRequest("GET", "k")
	sent := time.Now()
	n.Send(second)
	_, err = second.Await()
	require.ErrorIs(t, err, ErrTimeout)
	assert.GreaterOrEqual(t, time.Since(sent), timeout*3/4, "the new connection was judged by the old one's stall count")
}

// captureOwner keeps the error a request was returned with, and takes the request over.
type captureOwner struct{ err chan error }

func (o captureOwner) Return(_ *Request, err error) bool { o.err <- err; return true }

// A MOVED or ASK without a host means the answering server's own host: the node fills it in before
// the owner sees the redirect.
func TestRedirectWithoutHostNamesTheAnsweringHost(t *testing.T) {
	for _, tc := range []struct{ reply, cmd string }{
		{"-MOVED 3999 :6381\r\n", "GET"}, {"-ASK 3999 :6381\r\n", "GET"},
		{"-MOVED 3999 :6381\r\n", "BLPOP"}, // on a dedicated connection
	} {
		srv := fakeredis.New(t, serveOnce(tc.reply))
		n := startNode(t, Options{Addr: srv.Addr()})
		owner := captureOwner{err: make(chan error, 1)}
		r := NewRequest(tc.cmd, "k")
		if tc.cmd == "BLPOP" {
			r.Args = append(r.Args, 1)
		}
		r.Owner = owner
		n.Send(r)
		err := <-owner.err
		var se *resp.Error
		require.ErrorAs(t, err, &se)
		rd, _, perr := resp.ParseRedirect(se)
		require.NoError(t, perr)
		assert.Equal(t, "127.0.0.1:6381", rd.Addr(), tc)
	}
	// Redis writes an IPv6 address without brackets: its leading ':' is no empty host.
	e := withRedirectHost(&resp.Error{Prefix: "MOVED", Msg: "3999 ::1:7000"}, "[::1]:7001")
	rd, _, err := resp.ParseRedirect(e)
	require.NoError(t, err)
	assert.Equal(t, "[::1]:7000", rd.Addr())
}

// A Reconnect function that panics is the user's bug: it is logged and the default backoff used.
// The actor is not restarted, so the commands waiting for a connection keep waiting (until their
// timeout) rather than failing with ErrActorPanicked.
func TestReconnectPanicIsContained(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {}) // accepts and hangs up at once
	logs := &testlog.Buffer{}
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 300 * time.Millisecond,
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
		Reconnect: func(int) time.Duration { panic("reconnect bug") }})
	r := NewRequest("GET", "k")
	n.Send(r)
	_, err := r.Await()
	require.ErrorIs(t, err, ErrTimeout)
	assert.NotErrorIs(t, err, actors.ErrActorPanicked)
	assert.Contains(t, logs.String(), "reconnect bug")
}

// A command waiting for a connection fails at its Until (the cluster's deadline for it), not a
// whole command timeout after it reached this node.
func TestOfflineCommandEndsAtItsUntil(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {}) // accepts and hangs up at once
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: time.Minute,
		Reconnect: func(int) time.Duration { return time.Hour }})
	r := NewRequest("GET", "k")
	r.Until = time.Now().Add(300 * time.Millisecond)
	n.Send(r)
	bound, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a measurement
	defer cancel()
	_, err := r.AwaitContext(bound)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "it waited for the node's command timeout")
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err))
}

// A server (a proxy, say) that answers HELLO 3 with NOPROTO is spoken to in RESP2, credentials and
// name sent the RESP2 way.
func TestNOPROTOFallsBackToRESP2(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		for {
			cmd, err := c.ReadCommand()
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, strings.Join(cmd, " "))
			mu.Unlock()
			reply := "+OK\r\n"
			switch strings.ToUpper(cmd[0]) {
			case "HELLO":
				reply = "-NOPROTO sorry, this protocol version is not supported\r\n"
			case "GET":
				reply = "$5\r\nvalue\r\n"
			}
			if c.Write(reply) != nil {
				return
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), Password: "pw", ClientName: "app"})
	v, err := n.Do(context.Background(), "GET", "k")
	require.NoError(t, err)
	assert.Equal(t, "value", v.String())
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(got), 4)
	assert.Equal(t, []string{"HELLO 3 AUTH default pw SETNAME app", "AUTH pw", "CLIENT SETNAME app", "GET k"}, got[:4])
}

// A burst's batch lists are not kept after it: the actor drops lists grown past keepBatch.
func TestABurstsBatchIsNotKept(t *testing.T) {
	a := &nodeActor{batch: make([]*Request, 10_000), starts: make([]int, 10_000)}
	a.resetBatch()
	assert.LessOrEqual(t, cap(a.batch), keepBatch)
	assert.LessOrEqual(t, cap(a.starts), keepBatch)
	a.batch, a.starts = make([]*Request, 10, 100), make([]int, 10, 100)
	a.resetBatch()
	assert.Equal(t, 100, cap(a.batch), "a usual batch's list is kept")
}

// A command timeout of a few nanoseconds is honoured, not a panic: the node's clock ticks every
// millisecond at least. (Its tick was 0, and accept divided by it.)
func TestTinyCommandTimeout(t *testing.T) {
	srv := fakeredis.New(t, blackhole)
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 5 * time.Nanosecond})
	r := NewRequest("PING")
	n.Send(r)
	_, err := r.Await()
	assert.ErrorIs(t, err, ErrTimeout)
}

// A push frame past the limits drops the connection, but is no command's reply: the command next
// in line gets the plain drop error, which the cluster may retry, not the limit error, which it
// would not.
func TestAPushPastTheLimitsIsNoCommandsFault(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		if _, err := c.Handshake(); err != nil {
			return
		}
		_ = c.Write(">2\r\n$7\r\nmessage\r\n$64\r\n" + strings.Repeat("x", 64) + "\r\n$1\r\nv\r\n")
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), Limits: resp.Limits{MaxBulkLen: 32}, OnPush: func(resp.Value) {}})
	r := NewRequest("GET", "k")
	n.Send(r)
	_, err := r.Await()
	require.Error(t, err)
	assert.False(t, resp.BrokeLimits(err), "the GET is not the one past the limits: %v", err)
	assert.True(t, WasWritten(err))
}

// A Reconnect delay of zero or less counts as MinReconnectDelay, not as a loop of dials: with -1
// a node whose master was killed made about 15,000 reconnect attempts in a second.
func TestReconnectDelayHasAFloor(t *testing.T) {
	for _, d := range []time.Duration{-1, 0, time.Microsecond} {
		a := &nodeActor{opts: Options{Reconnect: func(int) time.Duration { return d }}.withDefaults(), attempt: 1}
		assert.Equal(t, MinReconnectDelay, a.reconnectDelay(), "Reconnect gave %s", d)
	}
	a := &nodeActor{opts: Options{Reconnect: func(int) time.Duration { return time.Second }}.withDefaults(), attempt: 1}
	assert.Equal(t, time.Second, a.reconnectDelay())
}
