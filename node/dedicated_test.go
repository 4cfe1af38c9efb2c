package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
)

func TestBlockingCommandDoesNotStallThePipeline(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	ctx := context.Background()
	blpop := NewRequest("BLPOP", "queue", 10)
	n.Send(blpop)
	// The pipeline keeps answering while BLPOP blocks on its own connection.
	for i := 0; i < 100; i++ {
		v, err := n.Do(ctx, "PING")
		require.NoError(t, err)
		require.Equal(t, "PONG", v.String())
	}
	assert.False(t, blpop.IsDone())
	_, err := n.Do(ctx, "LPUSH", "queue", "job-1")
	require.NoError(t, err)
	v, err := blpop.Await()
	require.NoError(t, err)
	require.Equal(t, 2, v.Len())
	assert.Equal(t, "queue", v.Index(0).String())
	assert.Equal(t, "job-1", v.Index(1).String())
}

func TestXReadBlockIsDedicated(t *testing.T) {
	assert.True(t, Blocks([]any{"xread", "COUNT", "1", "block", "0", "STREAMS", "s", "$"}))
	assert.False(t, Blocks([]any{"XREAD", "STREAMS", "s", "0"}))
	assert.False(t, Blocks([]any{"WAIT", "1", "0"}), "WAIT stays on the connection whose writes it waits for")
	assert.False(t, Blocks([]any{"GET", "k"}))
	assert.False(t, Blocks([]any{"BITCOUNT", "k"}))
}

func TestWatchSession(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx := context.Background()
	_, err := n.Do(ctx, "SET", "balance", 10)
	require.NoError(t, err)

	// An optimistic transaction: WATCH, read, MULTI, write, EXEC.
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = d.Do(ctx, "WATCH", "balance")
	require.NoError(t, err)
	v, err := d.Do(ctx, "GET", "balance")
	require.NoError(t, err)
	assert.Equal(t, "10", v.String())
	// Someone else changes the key through the pipeline: EXEC must abort.
	_, err = n.Do(ctx, "INCR", "balance")
	require.NoError(t, err)
	_, err = d.Do(ctx, "MULTI")
	require.NoError(t, err)
	_, err = d.Do(ctx, "SET", "balance", 0)
	require.NoError(t, err)
	v, err = d.Do(ctx, "EXEC")
	require.NoError(t, err)
	assert.True(t, v.IsNull(), "the watched key changed: the transaction was aborted")
	d.Release()

	// The one connection is reused, and carries no WATCH from the previous session.
	d, err = n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = d.Do(ctx, "WATCH", "balance")
	require.NoError(t, err)
	d.Release() // leaves WATCH behind: Release sends UNWATCH
	d, err = n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = n.Do(ctx, "INCR", "balance")
	require.NoError(t, err)
	_, err = d.Do(ctx, "MULTI")
	require.NoError(t, err)
	_, err = d.Do(ctx, "INCR", "balance")
	require.NoError(t, err)
	v, err = d.Do(ctx, "EXEC")
	require.NoError(t, err)
	require.Equal(t, 1, v.Len(), "no stale WATCH aborted this transaction")
	d.Release()
}

// A blocking command redirected or retried late in its life (Until) waits for a connection of
// its own no longer than its deadline. (It waited a whole command timeout: 2 s against 200 ms, in
// a review.)
func TestBlockingWaitForAConnectionEndsAtUntil(t *testing.T) {
	n, holder := heldPool(t)
	late := NewRequest("BLPOP", "empty", 0)
	late.Until = time.Now().Add(200 * time.Millisecond)
	n.Send(late)
	_, err := await(t, late) // bounded well below the command timeout
	require.ErrorIs(t, err, ErrPoolFull)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err))
	require.NoError(t, n.Close(time.Second)) // interrupts the first
	_, err = await(t, holder)
	require.ErrorIs(t, err, ErrClosed)
}

// A blocking command that comes past its deadline is not run, even on an idle connection of its
// own. (It ran: BLPOP empty 1 returned its Nil after 1 s, in a review.)
func TestBlockingCommandPastItsDeadlineIsNotRun(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1, CommandTimeout: time.Minute})
	warm := NewRequest("BLPOP", "warm", "0.01")
	n.Send(warm)
	_, err := await(t, warm) // its connection is idle in the pool now
	require.NoError(t, err)
	late := NewRequest("BLPOP", "empty", 1)
	late.Until = time.Now().Add(-10 * time.Millisecond)
	n.Send(late)
	_, err = await(t, late)
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, WasWritten(err))
	calls, err := srv.InfoCount(context.Background(), "commandstats", "cmdstat_blpop", "calls")
	require.NoError(t, err)
	assert.Equal(t, 1, calls, "the server ran only the first")
}

// heldPool starts a node with one dedicated connection, a command timeout of a minute, and a
// BLPOP 0 holding the connection.
func heldPool(t *testing.T) (*Node, *Request) {
	t.Helper()
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1, CommandTimeout: time.Minute})
	holder := NewRequest("BLPOP", "held", 0)
	n.Send(holder)
	awaitBlocked(t, srv, "the pool's one connection is held")
	return n, holder
}

func TestDedicatedPoolIsBounded(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 2, CommandTimeout: 300 * time.Millisecond})
	reqs := []*Request{NewRequest("BLPOP", "empty", 0), NewRequest("BLPOP", "empty", 0), NewRequest("BLPOP", "empty", 0)}
	for _, r := range reqs {
		n.Send(r)
	}
	// Two get the two connections and block forever; the third waits a command timeout for a
	// connection, then fails without having been written.
	var timedOut *Request
	select {
	case <-reqs[0].Done():
		timedOut = reqs[0]
	case <-reqs[1].Done():
		timedOut = reqs[1]
	case <-reqs[2].Done():
		timedOut = reqs[2]
	}
	_, err := timedOut.Await()
	assert.ErrorIs(t, err, ErrPoolFull)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.NotErrorIs(t, err, ErrConnection, "no connection failed")
	assert.False(t, WasWritten(err))
	// Close interrupts the two that block forever.
	require.NoError(t, n.Close(time.Second))
	for _, r := range reqs {
		if r == timedOut {
			continue
		}
		_, err := r.Await()
		assert.ErrorIs(t, err, ErrClosed)
		assert.True(t, WasWritten(err))
	}
}

func TestBlockingCommandCancelled(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := n.Do(ctx, "BLPOP", "nothing", 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// The interrupted connection was discarded; the next blocking command gets a fresh one.
	_, err = n.Do(context.Background(), "RPUSH", "something", "x")
	require.NoError(t, err)
	v, err := n.Do(context.Background(), "BLPOP", "something", 1)
	require.NoError(t, err)
	assert.Equal(t, "x", v.Index(1).String())
}

// A blocking command whose caller stopped waiting is interrupted: it gives its connection back
// and does not pop an element nobody will receive.
func TestAbandonedBlockingCommandLetsGo(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 2})
	for range 3 { // one more than the pool holds
		r := NewRequest("BLPOP", "q", 0) // no Ctx: only the caller's wait ends
		n.Send(r)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := r.AwaitContext(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	ctx := context.Background()
	v, err := n.Do(ctx, "BLPOP", "other", 1)
	require.NoError(t, err, "a connection of the pool is free again")
	assert.True(t, v.IsNull())
	_, err = n.Do(ctx, "RPUSH", "q", "job1", "job2")
	require.NoError(t, err)
	v, err = n.Do(ctx, "LLEN", "q")
	require.NoError(t, err)
	length, err := v.Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(2), length, "no abandoned BLPOP took a job")
}

// A blocking command redirected by ASK runs on a dedicated connection too, ASKING first, and leaves
// the pipeline free.
func TestAskedBlockingCommandIsDedicated(t *testing.T) {
	cl := testcluster.New(t, testcluster.Options{})
	ctx := context.Background()
	const key = "asked-queue"
	s, err := cl.Masters()[0].Do(ctx, "CLUSTER", "KEYSLOT", key)
	require.NoError(t, err)
	slot := int(s.(int64))
	var target *testcluster.Node
	for _, m := range cl.Masters() {
		if m != cl.MasterFor(slot) {
			target = m
		}
	}
	require.NoError(t, cl.BeginMigration(ctx, slot, target))

	n := startNode(t, Options{Addr: target.Addr(), CommandTimeout: 2 * time.Second})
	blpop := NewRequest("BLPOP", key, 10)
	blpop.Asking = true
	n.Send(blpop)
	for i := 0; i < 50; i++ {
		v, err := n.Do(ctx, "PING")
		require.NoError(t, err)
		require.Equal(t, "PONG", v.String())
	}
	assert.False(t, blpop.IsDone(), "BLPOP blocks, on a connection of its own")
	push := NewRequest("RPUSH", key, "job")
	push.Asking = true
	n.Send(push)
	_, err = push.Await()
	require.NoError(t, err)
	v, err := blpop.Await()
	require.NoError(t, err)
	assert.Equal(t, "job", v.Index(1).String())
}

// WAIT runs on the shared connection, after the writes it was sent behind: with the replica
// stopped it cannot be acknowledged. (On a connection of its own, which wrote nothing, it returned
// the replica count at once.) A timeout of 0 or past the command timeout is refused.
func TestWaitCoversThePipelinesWrites(t *testing.T) {
	cl := testcluster.New(t, testcluster.Options{})
	ctx := context.Background()
	master := cl.Masters()[0]
	replicas := cl.ReplicasOf(master)
	require.Len(t, replicas, 1)
	key := ""
	for i := 0; key == ""; i++ {
		k := "wait-" + strconv.Itoa(i)
		s, err := master.Do(ctx, "CLUSTER", "KEYSLOT", k)
		require.NoError(t, err)
		if cl.MasterFor(int(s.(int64))) == master {
			key = k
		}
	}
	n := startNode(t, Options{Addr: master.Addr(), CommandTimeout: 2 * time.Second})
	_, err := n.Do(ctx, "SET", key, "1")
	require.NoError(t, err)
	v, err := n.Do(ctx, "WAIT", 1, 1000)
	require.NoError(t, err)
	acked, _ := v.Int64()
	require.Equal(t, int64(1), acked, "the running replica acknowledged the write")

	pid := replicas[0].PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	_, err = n.Do(ctx, "SET", key, "2")
	require.NoError(t, err)
	v, err = n.Do(ctx, "WAIT", "1", "200")
	require.NoError(t, err)
	acked, _ = v.Int64()
	assert.Equal(t, int64(0), acked, "the stopped replica cannot have acknowledged the second write")

	// A WAIT that holds the replies back for nearly the command timeout is not a stall: the
	// connection stays, and so does a command written behind it.
	n2 := startNode(t, Options{Addr: master.Addr(), CommandTimeout: time.Second})
	_, err = n2.Do(ctx, "SET", key, "3")
	require.NoError(t, err)
	// Two ticks of the node's clock (100 ms each here) go by with nothing due, so that the stall
	// clock starts counting on the first tick after the WAIT. Not a synchronisation: the state to
	// test is "idle for a while", and only time makes it.
	time.Sleep(250 * time.Millisecond)
	wait := NewRequest("WAIT", 1, 990)
	n2.Send(wait)
	behind := NewRequest("GET", key)
	n2.Send(behind)
	v, err = wait.Await()
	require.NoError(t, err, "the stall detector dropped the connection under the WAIT")
	acked, _ = v.Int64()
	assert.Equal(t, int64(0), acked)
	v, err = behind.Await()
	require.NoError(t, err)
	assert.Equal(t, "3", v.String())
	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))

	for _, args := range [][]any{{"WAIT", 1, 0}, {"WAIT", "1", "5000"}, {"waitaof", 0, 1, 0}} {
		_, err = n.Do(ctx, args...)
		assert.ErrorIs(t, err, ErrUnsupportedCommand, "%v", args)
	}
}

// WAITs sent one after another to a server that hangs (stopped, its connection open) do not keep
// the stall detector from dropping the connection: a command behind them fails within twice the
// command timeout.
func TestWaitsDoNotHideAHungServer(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: time.Second})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(srv.PID(), syscall.SIGSTOP))
	defer func() { _ = syscall.Kill(srv.PID(), syscall.SIGCONT) }()

	get := NewRequest("GET", "k")
	n.Send(get)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				n.Send(NewRequest("WAIT", 0, 500))
			}
		}
	}()
	bound, cancel := context.WithTimeout(ctx, 6*time.Second) // a bound on a hang, not a measurement
	defer cancel()
	_, err = get.AwaitContext(bound)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "the WAITs kept the hung connection alive")
	require.ErrorIs(t, err, ErrTimeout)
}

// A blocking command with a timeout, sent to a server that answers nothing, fails with ErrTimeout
// once CommandTimeout has passed beyond its own timeout, like a command on the shared connection.
func TestBlockingCommandToASilentServerTimesOut(t *testing.T) {
	srv := fakeredis.New(t, blackhole)
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 200 * time.Millisecond})
	r := NewRequest("BLPOP", "q", "0.3") // no Ctx: nothing but the node ends it
	n.Send(r)
	select {
	case <-r.Done():
	case <-time.After(20 * time.Second): // a bound on a hang, not a measurement
		t.Fatal("BLPOP q 0.3 to a silent server never completed")
	}
	_, err := r.Await()
	require.ErrorIs(t, err, ErrTimeout)
	assert.True(t, WasWritten(err))
	assert.Contains(t, err.Error(), "BLPOP")
	assert.Contains(t, err.Error(), srv.Addr())
}

// A pooled connection the server closed while it sat idle (its timeout setting) is not handed out:
// the next blocking command gets a fresh connection and its reply, not "connection failed, may
// have run". Also when the client cannot peek at the connection (a Dialer's own type): it asks
// with a PING then. (Such a connection counted as quiet.)
func TestIdleDedicatedConnectionClosedByTheServerIsReplaced(t *testing.T) {
	for name, dialer := range map[string]func(context.Context, string, string) (net.Conn, error){
		"TCP": nil, "wrapped": wrappingDialer,
	} {
		t.Run(name, func(t *testing.T) { idleDedicatedClosed(t, dialer) })
	}
}

func idleDedicatedClosed(t *testing.T, dialer func(context.Context, string, string) (net.Conn, error)) {
	closed := make(chan struct{}, 4)
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		if err != nil {
			return
		}
		if strings.EqualFold(cmd[0], "BLPOP") { // a dedicated connection: one reply, then closed
			_ = c.Write("*2\r\n$1\r\nq\r\n$1\r\nx\r\n")
			_ = c.Close()
			closed <- struct{}{}
			return
		}
		for {
			if c.Write("+PONG\r\n") != nil {
				return
			}
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1, Dialer: dialer}) // the second BLPOP waits for the first's
	ctx := context.Background()
	for i := range 2 {
		v, err := n.Do(ctx, "BLPOP", "q", 1)
		require.NoError(t, err, "BLPOP %d", i)
		assert.Equal(t, "x", v.Index(1).String())
		<-closed
	}
}

// Replies that come in ahead of a WAIT's do not end its allowance: the stall limit keeps it until
// the WAIT itself is answered. (It ended at the first tick that saw any reply: a WAIT written just
// before that tick lost it, and a connection busy until the WAIT was dropped under it.)
func TestWaitAllowanceLastsUntilItsReply(t *testing.T) {
	a := &nodeActor{opts: Options{CommandTimeout: time.Second}, tickEvery: 100 * time.Millisecond, state: stateReady}
	a.timer = time.AfterFunc(time.Hour, func() {})
	defer a.timer.Stop()
	c := &conn{}
	a.c = c
	c.expected.Store(4) // three commands, then a WAIT of 900 ms
	c.waits = []heldWait{{upTo: 4, hold: 900 * time.Millisecond}}
	c.answered.Store(3) // the replies before the WAIT's
	for range 16 {      // the WAIT holds its reply: 1.5 s of silence, under 1 s + 900 ms
		a.onTick()
	}
	assert.Same(t, c, a.c, "not dropped as stalled")
	c.answered.Store(4)
	a.onTick()
	assert.Empty(t, c.waits, "answered: the allowance ends")
	assert.Empty(t, c.marks)
}

// WAITs in a row hold the replies behind them for all their holds together: the server runs them
// one after another. (The allowance was the longest one's, and four WAITs of 300 ms with a timeout
// of 500 ms got a healthy connection dropped.)
func TestWaitsInARowHoldTogether(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			if strings.EqualFold(cmd[0], "WAIT") {
				time.Sleep(300 * time.Millisecond) // the server holding the WAIT, not a synchronisation
				err = c.Write(":0\r\n")
			} else {
				err = c.Write("+PONG\r\n")
			}
			if err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 500 * time.Millisecond, OnEvent: events.record})
	waits := make([]*Request, 4)
	for i := range waits {
		waits[i] = NewRequest("WAIT", 1, 300)
		n.Send(waits[i])
	}
	for _, w := range waits {
		_, err := w.Await()
		require.NoError(t, err)
	}
	assert.NotContains(t, events.types(), EventDisconnect)
}

// The same over TLS, with a real server closing idle clients (timeout 1): the close_notify alert
// it sends before the FIN is no data a quiet connection should have, and the connection is not
// handed out.
func TestIdleTLSDedicatedConnectionClosedByTheServerIsReplaced(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{TLS: true, ExtraConfig: []string{"timeout 1"}})
	n := startNode(t, Options{Addr: srv.Addr(), TLS: srv.TLSConfig(), MaxDedicated: 1})
	ctx := context.Background()
	_, err := srv.Do(ctx, "RPUSH", "q", "a", "b")
	require.NoError(t, err)
	v, err := n.Do(ctx, "BLPOP", "q", 1)
	require.NoError(t, err)
	assert.Equal(t, "a", v.Index(1).String())
	require.Eventually(t, func() bool { // the server has closed the idle connection BLPOP used
		list, err := srv.Do(ctx, "CLIENT", "LIST")
		return err == nil && !strings.Contains(fmt.Sprint(list), "cmd=blpop")
	}, 20*time.Second, 50*time.Millisecond)
	v, err = n.Do(ctx, "BLPOP", "q", 1)
	require.NoError(t, err, "BLPOP after the server closed the pooled connection")
	assert.Equal(t, "b", v.Index(1).String())
}

// Close interrupts a dedicated connection being dialled to a server that accepts and never answers,
// as it does the shared connection's: it does not wait out ConnectTimeout.
func TestCloseInterruptsADedicatedDial(t *testing.T) {
	hello := make(chan struct{}, 4)
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
			hello <- struct{}{} // read, never answered
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), ConnectTimeout: time.Minute, CommandTimeout: time.Minute})
	<-hello // the shared connection's handshake waits
	r := NewRequest("BLPOP", "q", 1)
	n.Send(r)
	<-hello // and so does the dedicated one's
	closed := make(chan error, 1)
	go func() { closed <- n.Close(100 * time.Millisecond) }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(20 * time.Second): // a bound on a hang, not a measurement
		t.Fatal("Close waited for a dedicated connection's dial (ConnectTimeout is a minute)")
	}
	_, err := r.Await()
	require.ErrorIs(t, err, ErrClosed)
}

// A Dedicated's Do with a ctx already ended writes nothing: a cancelled EXEC must not commit. The
// connection stays good. (It was written, and often ran, as the ctx's deadline raced the write.)
func TestDedicatedDoWithAnEndedContextWritesNothing(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	for range 50 {
		d, err := n.Dedicated(ctx)
		require.NoError(t, err)
		_, err = d.Do(ended, "INCR", "cancelled-counter")
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, WasWritten(err))
		assert.False(t, d.broken, "nothing was written: the connection stays")
		d.Release()
	}
	v, err := n.Do(ctx, "GET", "cancelled-counter")
	require.NoError(t, err)
	assert.True(t, v.IsNull(), "no INCR ran: %v", v)
}

// One caller taking dedicated connections one after another uses one: an idle connection is taken
// before a new one is dialled. (The pool's select picked at random between the two, and grew to
// its bound.)
func TestDedicatedPoolReusesBeforeDialing(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 8})
	ctx := context.Background()
	for range 30 {
		_, err := n.Do(ctx, "RPUSH", "reuse-queue", "x")
		require.NoError(t, err)
		v, err := n.Do(ctx, "BLPOP", "reuse-queue", 0) // answered at once, on a dedicated connection
		require.NoError(t, err)
		require.Equal(t, "x", v.Index(1).String())
	}
	assert.Equal(t, 1, len(n.pool.slots), "connections dialled")
}

// An EXEC refused with EXECABORT ends the transaction and its WATCH: the connection goes back to the
// pool with nothing to undo (a stale MULTI flag made every later Release send a DISCARD that
// failed).
func TestExecAbortEndsTheSession(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx := context.Background()
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = d.Do(ctx, "WATCH", "w")
	require.NoError(t, err)
	_, err = d.Do(ctx, "MULTI")
	require.NoError(t, err)
	_, err = d.Do(ctx, "SET", "w") // wrong arity: refused while queueing
	require.Error(t, err)
	_, err = d.Do(ctx, "EXEC")
	require.ErrorContains(t, err, "EXECABORT")
	assert.False(t, d.inMulti, "the MULTI ended")
	assert.False(t, d.watching, "the WATCH ended")
	d.Release()
	failed, err := srv.InfoCount(ctx, "commandstats", "cmdstat_discard", "failed_calls")
	require.NoError(t, err)
	assert.Zero(t, failed, "no DISCARD without a MULTI")
}

// A command on a held Dedicated that Close interrupts fails with ErrClosed.
func TestCloseFailsAHeldDedicatedWithErrClosed(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx := context.Background()
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := d.Do(ctx, "BLPOP", "never-pushed", 0)
		done <- err
	}()
	awaitBlocked(t, srv, "BLPOP blocked")
	require.NoError(t, n.Close(time.Second))
	err = <-done
	assert.ErrorIs(t, err, ErrClosed)
	assert.True(t, WasWritten(err))
	d.Release()
}

// A dedicated connection that ran SELECT is not handed to the next user, who would find another
// database (standalone servers; cluster servers refuse SELECT but 0).
func TestSelectedDedicatedIsNotReused(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx := context.Background()
	_, err := n.Do(ctx, "RPUSH", "db0-queue", "x")
	require.NoError(t, err)
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = d.Do(ctx, "SELECT", 1)
	require.NoError(t, err)
	d.Release()
	v, err := n.Do(ctx, "BLPOP", "db0-queue", 1) // on a dedicated connection: a fresh one, in db 0
	require.NoError(t, err)
	require.False(t, v.IsNull(), "BLPOP found the list of db 0")
	assert.Equal(t, "x", v.Index(1).String())
}

// Blocking commands abandoned by their callers while every dedicated connection is in use stop
// waiting for one: they piled up as goroutines for a whole command timeout each (8,605 after 1 s
// of 20 callers giving up every 2 ms, in an audit).
func TestAbandonedWaitersForADedicatedConnectionLetGo(t *testing.T) {
	n, holder := heldPool(t)
	base := runtime.NumGoroutine()
	for range 200 { // as the cluster sends them: no Ctx, the caller's wait on the Future ends
		r := NewRequest("BLPOP", "other", 1)
		n.Send(r)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, err := r.AwaitContext(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base+5 },
		10*time.Second, 10*time.Millisecond, "the abandoned waiters are gone well before the command timeout")
	holder.Fail(context.Canceled) // abandon the holder too: its BLPOP is interrupted
}

// UNBLOCKED is retried when a failover let the command go, not when an operator's CLIENT UNBLOCK
// ... ERROR did: that one is meant for the caller.
func TestOnlyAFailoversUnblockedIsReturnable(t *testing.T) {
	failover := resp.ParseError("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)")
	operator := resp.ParseError("UNBLOCKED client unblocked via CLIENT UNBLOCK")
	assert.True(t, Returnable(failover))
	assert.False(t, Returnable(operator))
}

// READONLY refused by an ACL is ErrReadOnlyRefused; a BUSY server or a dropped connection at that
// step is not (Connect would take it for final).
func TestOnlyAnACLRefusalOfReadOnlyIsErrReadOnlyRefused(t *testing.T) {
	for _, tc := range []struct {
		answer string
		want   bool
	}{
		{"-NOPERM this user has no permissions to run the 'readonly' command\r\n", true},
		{"-BUSY Redis is busy running a script\r\n", false},
		{"", false}, // the server hangs up
	} {
		srv := fakeredis.New(t, func(c *fakeredis.Conn) {
			for {
				cmd, err := c.ReadCommand()
				if err != nil {
					return
				}
				switch strings.ToUpper(cmd[0]) {
				case "HELLO":
					err = c.Write("-ERR unknown command 'HELLO'\r\n")
				case "READONLY":
					if tc.answer == "" {
						_ = c.Close()
						return
					}
					err = c.Write(tc.answer)
				default:
					err = c.Write("+PONG\r\n")
				}
				if err != nil {
					return
				}
			}
		})
		_, err := Query(t.Context(), Options{Addr: srv.Addr(), ReadOnly: true, ConnectTimeout: time.Second}, "PING")
		require.Error(t, err, "READONLY answered %q", tc.answer)
		assert.Equal(t, tc.want, errors.Is(err, ErrReadOnlyRefused), "READONLY answered %q: %v", tc.answer, err)
	}
}

// A Release resetting a WATCH when Close comes is interrupted, not left waiting for a server that
// does not answer the UNWATCH.
func TestCloseInterruptsAReleaseResettingItsConnection(t *testing.T) {
	unwatch := make(chan struct{}, 1)
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for err == nil {
			if strings.EqualFold(cmd[0], "UNWATCH") {
				unwatch <- struct{}{}
				_, err = c.ReadCommand() // never answered; ends when the client closes
				continue
			}
			if err = c.Write("+OK\r\n"); err == nil {
				cmd, err = c.ReadCommand()
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: time.Minute})
	ctx := context.Background()
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = d.Do(ctx, "WATCH", "k")
	require.NoError(t, err)
	released := make(chan struct{})
	go func() {
		d.Release() // sends UNWATCH, which the server never answers
		close(released)
	}()
	<-unwatch // the Release waits for its reply now
	require.NoError(t, n.Close(time.Second))
	testwait.Recv(t, released, "Release still waits for the UNWATCH's reply after Close")
}

// A blocking command that times out waiting while the node's dials hang is not told the pool is
// full: no connection exists.
func TestHangingDialsAreNotAFullPool(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) { // reads the handshake, answers nothing
		for {
			if _, err := c.ReadCommand(); err != nil {
				return
			}
		}
	})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 2, CommandTimeout: 300 * time.Millisecond,
		ConnectTimeout: time.Second})
	reqs := []*Request{NewRequest("BLPOP", "a", 0), NewRequest("BLPOP", "b", 0), NewRequest("BLPOP", "c", 0), NewRequest("BLPOP", "d", 0)}
	for _, r := range reqs {
		n.Send(r)
	}
	for _, r := range reqs {
		_, err := r.Await()
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrPoolFull, "%v", err)
	}
}

// awaitBlocked waits until one client is blocked in a command on srv.
func awaitBlocked(t *testing.T, srv *testcluster.Server, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err := srv.BlockedClients(context.Background())
		return err == nil && n == 1
	}, 5*time.Second, 5*time.Millisecond, what)
}

// A command on a dedicated connection is bounded by CommandTimeout past its own timeout: a WAIT for
// a replica that never comes holds for its whole timeout and answers, and a GET to a paused server
// fails at CommandTimeout.
func TestDedicatedCommandsAreBounded(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	v, err := d.Do(ctx, "WAIT", 1, 600) // no replica: answered 0 after 600 ms
	require.NoError(t, err)
	n0, err := v.Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(0), n0)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = d.Do(short, "WAIT", 1, int64(9_300_000_000_000)) // 295 years: as good as forever
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's ctx ended it, not an overflowed bound")
	d.Release()
	d, err = n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = srv.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL")
	require.NoError(t, err)
	_, err = d.Do(ctx, "GET", "k")
	require.ErrorIs(t, err, ErrTimeout)
	assert.True(t, WasWritten(err))
	d.Release()
}

// A dedicated connection waiting in the pool keeps no large command's or reply's memory: a Watch
// session that wrote a 32 MiB value, or a BLPOP that popped one, held it until Close (a review:
// eight such sessions kept 261 MiB).
func TestReleasedDedicatedKeepsNoLargeBuffers(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx := context.Background()
	const size = 16 << 20
	heap := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	_, err = d.Do(ctx, "SET", "big", make([]byte, size)) // the command's buffer
	require.NoError(t, err)
	v, err := d.Do(ctx, "GET", "big") // the reply's arena
	require.NoError(t, err)
	require.Len(t, v.Bytes(), size)
	v = resp.Value{}
	d.Release()
	held := heap() - before
	assert.Less(t, held, int64(size/4), "%d bytes held after a %d-byte SET and GET", held, size)
	runtime.KeepAlive(v)
}

// A session's command whose ctx has ended says so (ctx's error, not written), also when the same
// ctx ending under the command before broke the connection: it said ErrBroken, "broken by an
// earlier command's failure", though nothing had failed but the caller's ctx (a review: 18 of 3000
// Watch sessions with 0-4 ms deadlines).
func TestDedicatedDoWithAnEndedContextSaysSoOnABrokenConnection(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr(), MaxDedicated: 1})
	ctx, cancel := context.WithCancel(context.Background())
	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	defer d.Release()
	d.broken = true // as when ctx ended just as the last reply came in
	cancel()
	_, err = d.Do(ctx, "SET", "k", "v")
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrBroken)
	assert.False(t, WasWritten(err))
	_, err = d.Do(context.Background(), "SET", "k", "v")
	assert.ErrorIs(t, err, ErrBroken, "with a live ctx: the connection is broken")
}
