package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
)

func TestRoundTripAgainstRedis(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), ClientName: "actoredis-test", OnEvent: events.record})
	ctx := context.Background()

	v, err := n.Do(ctx, "SET", "greeting", "hello")
	require.NoError(t, err)
	assert.Equal(t, "OK", v.String())
	v, err = n.Do(ctx, "GET", "greeting")
	require.NoError(t, err)
	assert.Equal(t, "hello", v.String())
	v, err = n.Do(ctx, "GET", "missing")
	require.NoError(t, err)
	assert.True(t, v.IsNull())
	// RESP3 after HELLO 3: HGETALL is a map.
	_, err = n.Do(ctx, "HSET", "h", "f", 1)
	require.NoError(t, err)
	v, err = n.Do(ctx, "HGETALL", "h")
	require.NoError(t, err)
	assert.Equal(t, resp.KindMap, v.Kind())
	name, err := n.Do(ctx, "CLIENT", "GETNAME")
	require.NoError(t, err)
	assert.Equal(t, "actoredis-test", name.String())

	_, err = n.Do(ctx, "INCR", "greeting")
	assert.ErrorIs(t, err, resp.ErrGeneric, "server errors come back with their prefix")
	_, err = n.Do(ctx, "LPUSH", "greeting", "x")
	assert.ErrorIs(t, err, resp.ErrWrongType)
	_, err = n.Do(ctx, "SET", "k", struct{}{})
	require.Error(t, err, "an argument that cannot be encoded fails the command alone")
	assert.Contains(t, err.Error(), srv.Addr())
	assert.Contains(t, err.Error(), "SET")

	assert.Equal(t, []EventType{EventConnect, EventReady}, events.types())
}

func TestRESP2AndACLUser(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{
		Users: []testcluster.User{{Name: "app", Password: "s3cret", Rules: []string{"on", "~*", "&*", "+@all"}}},
	})
	for _, proto := range []int{2, 3} {
		n := startNode(t, Options{Addr: srv.Addr(), Username: "app", Password: "s3cret", RESP: proto})
		who, err := n.Do(context.Background(), "ACL", "WHOAMI")
		require.NoError(t, err)
		assert.Equal(t, "app", who.String())
		v, err := n.Do(context.Background(), "HGETALL", "none")
		require.NoError(t, err)
		if proto == 2 {
			assert.Equal(t, resp.KindArray, v.Kind())
		} else {
			assert.Equal(t, resp.KindMap, v.Kind())
		}
	}
}

// An ACL user without a password (nopass) is authenticated as that user: a username alone is
// credentials too, under RESP2 and RESP3, where the default user needs a password.
func TestUserWithoutPassword(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{Password: "default-pw",
		Users: []testcluster.User{{Name: "np", Rules: []string{"on", "nopass", "~*", "&*", "+@all"}}}})
	for _, proto := range []int{2, 3} {
		n := startNode(t, Options{Addr: srv.Addr(), Username: "np", RESP: proto, CommandTimeout: time.Second})
		who, err := n.Do(context.Background(), "ACL", "WHOAMI")
		require.NoError(t, err, "RESP%d", proto)
		assert.Equal(t, "np", who.String())
	}
}

func TestWrongPasswordIsReportedWithoutThePassword(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{Password: "right"})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), Password: "wrong-password-123", OnEvent: events.record,
		CommandTimeout: 300 * time.Millisecond})
	e := events.waitFor(t, EventError, 5*time.Second)
	assert.ErrorIs(t, e.Err, resp.ErrWrongPass)
	assert.NotContains(t, e.Err.Error(), "wrong-password-123")
	_, err := n.Do(context.Background(), "PING")
	assert.ErrorIs(t, err, ErrTimeout, "queued while the node cannot connect, then timed out")
	assert.ErrorIs(t, err, resp.ErrWrongPass, "and the error says why it could not connect")
	assert.NotContains(t, err.Error(), "wrong-password-123")
	var ce *ConnError
	require.ErrorAs(t, err, &ce)
	assert.False(t, ce.Written)
}

func TestTLS(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{TLS: true})
	n := startNode(t, Options{Addr: srv.Addr(), TLS: srv.TLSConfig()})
	v, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	assert.Equal(t, "PONG", v.String())

	// A configuration that names no server (as rediss:// URLs give) verifies the certificate
	// against the address dialled, as tls.Dial would.
	conf := srv.TLSConfig()
	conf.ServerName = ""
	n = startNode(t, Options{Addr: srv.Addr(), TLS: conf})
	v, err = n.Do(context.Background(), "PING")
	require.NoError(t, err)
	assert.Equal(t, "PONG", v.String())
}

// TestConcurrentLoad: 100k GET/SET from 1024 goroutines, every value checked.
func TestConcurrentLoad(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	_, err := n.Do(context.Background(), "PING") // connected: the load below goes to the pipeline, not the offline queue
	require.NoError(t, err)
	const workers, perWorker = 1024, 98 // 1024 × 98 ≈ 100k commands
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "load:" + strconv.Itoa(w)
			for i := 0; i < perWorker/2; i++ {
				val := strconv.Itoa(w*1000 + i)
				set := NewRequest("SET", key, val)
				get := NewRequest("GET", key)
				n.Send(set)
				n.Send(get) // same sender, same actor: written after the SET
				if _, err := set.Await(); err != nil {
					bad.Add(1)
					continue
				}
				if v, err := get.Await(); err != nil || v.String() != val {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, bad.Load())
	st := n.Stats()
	assert.GreaterOrEqual(t, st.Commands, uint64(workers*perWorker))
	t.Logf("%d commands in %d writes: %.1f per write", st.Commands, st.Writes, float64(st.Commands)/float64(st.Writes))
}

func TestCancelStorm(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		_, err := n.Do(ctx, "SET", "storm:"+strconv.Itoa(i), i)
		require.NoError(t, err)
	}
	expired, cancel := context.WithCancel(ctx)
	cancel()
	const total = 10_000
	reqs := make([]*Request, total)
	for i := range reqs {
		reqs[i] = NewRequest("GET", "storm:"+strconv.Itoa(i%100))
		if i%2 == 0 {
			reqs[i].Ctx = expired
		}
		n.Send(reqs[i])
	}
	for i, r := range reqs {
		if i%2 == 0 {
			_, err := r.AwaitContext(expired)
			assert.ErrorIs(t, err, context.Canceled)
			continue
		}
		v, err := r.Await()
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(i%100), v.String())
	}
	// Commands cancelled before they were written were never sent.
	assert.LessOrEqual(t, n.Stats().Commands, uint64(100+total/2+1))
}

func TestServerKilledMidStream(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), OnEvent: events.record,
		Reconnect: func(int) time.Duration { return 20 * time.Millisecond }})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)

	// A stream of commands; the server dies in the middle of it.
	var wg sync.WaitGroup
	var ok, failedWritten, failedOther atomic.Int64
	stop, warm := make(chan struct{}), make(chan struct{})
	var warmOnce sync.Once
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := NewRequest("SET", fmt.Sprintf("kill:%d", w), i)
				n.Send(r)
				_, err := r.Await() // must never hang
				switch {
				case err == nil:
					if ok.Add(1) == 1000 {
						warmOnce.Do(func() { close(warm) })
					}
				case WasWritten(err):
					failedWritten.Add(1)
				default:
					failedOther.Add(1)
				}
			}
		}()
	}
	<-warm // 1000 commands answered: the stream is flowing
	// The server answers no more writes: every worker's next SET stays in flight until the kill.
	// (Without this, a kill between two rounds of replies could find none in flight.)
	_, err = srv.Do(ctx, "CLIENT", "PAUSE", "60000", "WRITE")
	require.NoError(t, err)
	var c *conn
	require.Eventually(t, func() bool {
		c = n.stats.live.Load()
		return c != nil && c.expected.Load()-c.answered.Load() >= 16
	}, 5*time.Second, time.Millisecond, "every worker has a SET in flight")
	// And the server holds one (the pause blocks the connection: flag b): those counted above may
	// all have been replies on their way, read since, with the next SETs not yet written at the
	// kill (CI run 113: 0 in flight, all 1062 SETs ok).
	require.Eventually(t, func() bool {
		v, err := srv.Do(ctx, "CLIENT", "LIST")
		require.NoError(t, err)
		for _, line := range strings.Split(fmt.Sprint(v), "\n") {
			for _, f := range strings.Fields(line) {
				if flags, ok := strings.CutPrefix(f, "flags="); ok && strings.Contains(flags, "b") {
					return true
				}
			}
		}
		return false
	}, 5*time.Second, time.Millisecond, "the server holds a SET")
	srv.Kill()
	events.waitFor(t, EventDisconnect, 5*time.Second)
	// A reply the server sent before the pause may still have been read after the count above:
	// what was in flight at the kill is what the connection's reader left unanswered.
	testwait.Recv(t, c.done, "the reader never exited")
	inFlight := c.expected.Load() - c.answered.Load()
	// Commands sent while the server is down wait in the offline queue.
	queued := make([]*Request, 50)
	for i := range queued {
		queued[i] = NewRequest("SET", "queued:"+strconv.Itoa(i), i)
		n.Send(queued[i])
	}
	require.NoError(t, srv.Restart(ctx))
	events.waitFor(t, EventReady, 10*time.Second)
	for i, r := range queued {
		_, err := r.Await()
		require.NoError(t, err, "queued command %d", i)
	}
	close(stop)
	wg.Wait()
	v, err := n.Do(ctx, "GET", "queued:49")
	require.NoError(t, err)
	assert.Equal(t, "49", v.String())
	t.Logf("ok %d, failed after write %d (in flight at the kill %d), failed otherwise %d", ok.Load(), failedWritten.Load(), inFlight, failedOther.Load())
	assert.Positive(t, inFlight)
	assert.GreaterOrEqual(t, failedWritten.Load(), inFlight, "the SETs in flight at the kill fail as written: they may have run")
}

func TestPanicInActorRestartsIt(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	var readies atomic.Int64
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), OnEvent: func(e Event) {
		events.record(e)
		if e.Type == EventReady && readies.Add(1) == 1 {
			panic("injected by the test")
		}
	}})
	events.waitFor(t, EventReady, 5*time.Second) // the first instance panicked right after this
	events.waitFor(t, EventReady, 5*time.Second) // the restarted instance connected again
	v, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	assert.Equal(t, "PONG", v.String())
	assert.Equal(t, int64(2), readies.Load())
}

func TestCloseCompletesEverything(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	_, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	reqs := make([]*Request, 5000)
	for i := range reqs {
		reqs[i] = NewRequest("INCR", "close:counter")
		n.Send(reqs[i])
	}
	require.NoError(t, n.Close(5*time.Second))
	succeeded := 0
	for _, r := range reqs {
		_, err := r.Await()
		if err == nil {
			succeeded++
		} else {
			assert.True(t, errors.Is(err, ErrClosed) || errors.Is(err, ErrConnection), "%v", err)
		}
	}
	assert.Equal(t, len(reqs), succeeded, "commands accepted before Close are written and answered")
	late := NewRequest("PING")
	n.Send(late)
	_, err = late.Await()
	assert.Error(t, err)
}

func TestTransactionUnitIsContiguous(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)
	// Many units and plain commands interleaved from many goroutines: each MULTI...EXEC must see
	// only its own commands, so every EXEC returns exactly its two results.
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "tx:" + strconv.Itoa(w)
			for i := 0; i < 50; i++ {
				unit := NewRequest("MULTI")
				unit.More = [][]any{{"INCR", key}, {"INCR", key}, {"EXEC"}}
				plain := NewRequest("INCR", key)
				n.Send(unit)
				n.Send(plain)
				v, err := unit.Await()
				if err != nil || v.Len() != 4 || v.Index(3).Len() != 2 {
					bad.Add(1)
					continue
				}
				first, _ := v.Index(3).Index(0).Int64()
				second, _ := v.Index(3).Index(1).Int64()
				if second != first+1 {
					bad.Add(1)
				}
				if _, err := plain.Await(); err != nil {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, bad.Load())
	v, err := n.Do(ctx, "GET", "tx:0")
	require.NoError(t, err)
	assert.Equal(t, "150", v.String())

	// A server error inside the unit stays in the array, as an error value.
	unit := NewRequest("MULTI")
	unit.More = [][]any{{"LPUSH", "tx:0", "x"}, {"EXEC"}}
	n.Send(unit)
	v, err = unit.Await()
	require.NoError(t, err)
	require.Equal(t, 3, v.Len())
	assert.ErrorIs(t, v.Index(2).Index(0).Err(), resp.ErrWrongType)
}

func TestIdleHealthCheckPings(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), HealthCheck: 50 * time.Millisecond, OnEvent: events.record})
	events.waitFor(t, EventReady, 5*time.Second)
	// Idle: the node PINGs on its own. Wait for the server to count more PINGs than it had.
	pings := func() int {
		n, err := srv.InfoCount(context.Background(), "commandstats", "cmdstat_ping", "calls")
		require.NoError(t, err)
		return n
	}
	before := pings()
	// The node counts a command once its write returned, which may be after the server ran it.
	require.Eventually(t, func() bool { return pings() > before && n.Stats().Commands > 0 }, 5*time.Second, 20*time.Millisecond)
}

// A server that closes idle connections (its timeout setting) costs no command an error: the
// node finds the close on its own while idle (the clock's peek at a parked connection), says so,
// reconnects, and the next command runs on the new connection. Both with the reader parked for a
// lone caller (Alone) and without.
func TestServerIdleTimeoutIsTransparent(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{ExtraConfig: []string{"timeout 1"}})
	for _, alone := range []bool{false, true} {
		t.Run(fmt.Sprintf("alone=%v", alone), func(t *testing.T) {
			t.Parallel() // each waits a second or two for the server's idle close
			events := newEventLog()
			n := startNode(t, Options{Addr: srv.Addr(), HealthCheck: -1, OnEvent: events.record,
				Alone: func() bool { return alone }})
			ctx := context.Background()
			_, err := n.Do(ctx, "SET", "idle", "v")
			require.NoError(t, err)
			e := events.waitFor(t, EventDisconnect, 10*time.Second) // the server's idle close
			t.Logf("the idle connection ended: %v", e.Err)
			events.waitFor(t, EventReady, 10*time.Second)
			v, err := n.Do(ctx, "GET", "idle")
			require.NoError(t, err, "the command after the server's idle close")
			assert.Equal(t, "v", v.String())
		})
	}
}
