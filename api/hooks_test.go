package api

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testlog"
	"github.com/actoredis/actoredis/internal/testwait"
)

// reports collects what Hooks.CommandDone is told, from any goroutine.
type reports struct {
	mu   sync.Mutex
	done []CommandDone
}

func (r *reports) hook(d CommandDone) {
	r.mu.Lock()
	r.done = append(r.done, d)
	r.mu.Unlock()
}

// take returns what was reported since the last take.
func (r *reports) take() []CommandDone {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.done
	r.done = nil
	return d
}

// one returns the one report since the last take, failing t if there is not exactly one.
func (r *reports) one(t *testing.T) CommandDone {
	t.Helper()
	d := r.take()
	require.Len(t, d, 1, "reports: %v", d)
	return d[0]
}

// spanKey keys a value a tracer would keep in a ctx.
type spanKey struct{}

// Hooks.CommandDone is told of each command once, before its caller has its result: its name,
// the node that answered, when it started and how long it took, its error and its ctx.
func TestCommandDoneHook(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	var got reports
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: got.hook}})
	ctx := context.Background()
	m := tc.Masters()[0]
	key := tagOn(tc, m, "hooked")
	got.take() // Connect's own commands are not reported; nothing of the test's yet

	t.Run("Do", func(t *testing.T) {
		before := time.Now()
		traced := context.WithValue(ctx, spanKey{}, "span 1")
		require.NoError(t, cl.Set(traced, key, "v"))
		d := got.one(t)
		assert.Equal(t, "span 1", d.Ctx.Value(spanKey{}))
		assert.Equal(t, "SET", d.Name)
		assert.Equal(t, m.Addr(), d.Addr)
		assert.NoError(t, d.Err)
		assert.False(t, d.Start.Before(before))
		assert.Positive(t, d.Duration)
		assert.LessOrEqual(t, d.Duration, time.Since(before))

		_, err := cl.LPush(ctx, key, "x")
		require.ErrorIs(t, err, ErrWrongType)
		d = got.one(t)
		assert.Equal(t, "LPUSH", d.Name)
		assert.ErrorIs(t, d.Err, ErrWrongType)
		assert.Equal(t, m.Addr(), d.Addr)
	})

	t.Run("Send", func(t *testing.T) {
		futures := make([]*Future, 100)
		for i := range futures {
			futures[i] = cl.Send(Cmd("INCR", fmt.Sprint(key, ":n", i)))
		}
		for _, f := range futures {
			_, err := f.Await()
			require.NoError(t, err)
		}
		done := got.take()
		require.Len(t, done, 100) // each reported before its Await returned
		for _, d := range done {
			assert.Equal(t, context.Background(), d.Ctx)
			assert.Equal(t, "INCR", d.Name)
			assert.NoError(t, d.Err)
			assert.NotEmpty(t, d.Addr)
		}
	})

	t.Run("refused arguments and an ended ctx", func(t *testing.T) {
		_, err := cl.Do(ctx, Cmd("SET", key, struct{}{}))
		require.Error(t, err)
		d := got.one(t)
		assert.Equal(t, "SET", d.Name)
		assert.Empty(t, d.Addr)
		assert.Equal(t, err, d.Err)

		ended, cancel := context.WithCancel(ctx)
		cancel()
		_, err = cl.Do(ended, Cmd("GET", key))
		require.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, got.one(t).Err, context.Canceled)
	})

	t.Run("ctx ending while it blocks", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := cl.Do(short, Cmd("BLPOP", key+":list", 0))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		d := got.one(t)
		assert.Equal(t, "BLPOP", d.Name)
		assert.Equal(t, m.Addr(), d.Addr)
		assert.ErrorIs(t, d.Err, context.DeadlineExceeded)
		// It ran until the ctx ended. (Not 50 ms from Start: the ctx's clock started before the
		// command was sent, 0.75 ms before under the race detector in CI run 107, 49.25 ms.)
		deadline, _ := short.Deadline()
		assert.False(t, d.Start.Add(d.Duration).Before(deadline.Round(0)), "ended %v, the ctx at %v", d.Start.Add(d.Duration), deadline)
	})

	t.Run("Tx, Node.Do and a Watch session", func(t *testing.T) {
		_, err := cl.Tx(ctx, Cmd("INCR", key+":tx"), Cmd("INCR", key+":tx"))
		require.NoError(t, err)
		d := got.one(t)
		assert.Equal(t, "MULTI", d.Name)
		assert.Equal(t, m.Addr(), d.Addr)

		n := cl.NodeForKey(key)
		_, err = n.Do(context.WithValue(ctx, spanKey{}, "span 2"), Cmd("DBSIZE"))
		require.NoError(t, err)
		d = got.one(t)
		assert.Equal(t, "span 2", d.Ctx.Value(spanKey{}))
		assert.Equal(t, "DBSIZE", d.Name)
		assert.Equal(t, n.Addr(), d.Addr)

		err = cl.Watch(ctx, func(tx *WatchTx) error {
			if _, err := tx.Do(ctx, Cmd("GET", key+":tx")); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, Cmd("SET", key+":tx", "2"))
			return err
		}, key+":tx")
		require.NoError(t, err)
		var names []string
		for _, d := range got.take() {
			names = append(names, d.Name)
			assert.Equal(t, m.Addr(), d.Addr, d.Name)
			assert.NoError(t, d.Err, d.Name)
		}
		assert.Equal(t, []string{"WATCH", "GET", "MULTI", "SET", "EXEC"}, names)
	})

	t.Run("a redirect: the node that answered", func(t *testing.T) {
		to := tc.Masters()[1]
		require.NoError(t, tc.MigrateSlot(ctx, GetSlot(key), to))
		_, err := cl.Do(ctx, Cmd("GET", key)) // to m by the client's map: MOVED, then to the new master
		require.NoError(t, err)
		d := got.one(t)
		assert.Equal(t, "GET", d.Name)
		assert.Equal(t, to.Addr(), d.Addr)
		assert.NoError(t, d.Err)
	})

	t.Run("after Close", func(t *testing.T) {
		require.NoError(t, cl.Close())
		_, err := cl.Do(ctx, Cmd("GET", key))
		require.ErrorIs(t, err, ErrClientClosed)
		_, err = cl.Send(Cmd("INCR", key)).Await()
		require.ErrorIs(t, err, ErrClientClosed)
		done := got.take()
		require.Len(t, done, 2)
		for i, name := range []string{"GET", "INCR"} {
			assert.Equal(t, name, done[i].Name)
			assert.Empty(t, done[i].Addr)
			assert.ErrorIs(t, done[i].Err, ErrClientClosed)
		}
	})
}

// Each command is reported once, however it ends: callers giving up at random moments race the
// replies (and the race detector watches what the hook reads of the command as a node takes it).
func TestCommandDoneHookOncePerCommand(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var reported, failed atomic.Int64
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: func(d CommandDone) {
		reported.Add(1)
		if d.Err != nil {
			failed.Add(1)
		}
	}}})
	reported.Store(0)
	const callers, each = 32, 50
	var calls, errs atomic.Int64
	var wg sync.WaitGroup
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
				calls.Add(1)
				if _, err := cl.Do(ctx, Cmd("INCR", fmt.Sprint("once:", w, ":", i%7))); err != nil {
					errs.Add(1)
				}
				cancel()
				if i%5 == 0 {
					calls.Add(1)
					_, _ = cl.Send(Cmd("GET", fmt.Sprint("once:", w))).Await()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, calls.Load(), reported.Load())
	assert.Equal(t, errs.Load(), failed.Load())
	t.Logf("%d commands, %d failed (their ctx ended)", calls.Load(), errs.Load())
}

// A hook that panics is logged, and the command's caller still gets its reply; the connection's
// reader, which ran the hook, goes on.
func TestCommandDoneHookPanics(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var logs testlog.Buffer
	var calls atomic.Int64
	cl := connect(t, tc, ClusterOptions{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Hooks: Hooks{CommandDone: func(d CommandDone) {
			calls.Add(1)
			panic("hook bug on " + d.Name)
		}},
	})
	ctx := context.Background()
	futures := make([]*Future, 20)
	for i := range futures {
		futures[i] = cl.Send(Cmd("SET", fmt.Sprint("panics:", i), i))
	}
	for _, f := range futures {
		_, err := f.Await()
		require.NoError(t, err)
	}
	require.NoError(t, cl.Set(ctx, "panics:do", "v"))
	v, err := cl.Get(ctx, "panics:do")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.GreaterOrEqual(t, calls.Load(), int64(22))
	assert.Contains(t, logs.String(), "CommandDone hook panicked")
	assert.Contains(t, logs.String(), "hook bug on SET")
}

// With a hook set, a GET through Do still costs one allocation: the report is a value on the
// stack.
func TestCommandDoneHookAllocations(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var n atomic.Int64
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: func(d CommandDone) {
		if d.Err == nil {
			n.Add(1)
		}
	}}})
	ctx := context.Background()
	require.NoError(t, cl.Set(ctx, "alloc:hooked", "a short value"))
	allocs := allocsPerRun(func() {
		if _, err := cl.Do(ctx, Cmd("GET", "alloc:hooked")); err != nil {
			panic(err)
		}
	})
	t.Logf("Do GET with a hook: %.2f allocations", allocs)
	assert.LessOrEqual(t, allocs, 1+allocSlack())
	assert.GreaterOrEqual(t, n.Load(), int64(5000))
}

// A hook that sends a command of the client and waits for it, when told of a command failed by
// the dispatcher (KEYS, refused as a per-node command) or by a node (MONITOR, refused there), holds
// up neither: such a report comes on a goroutine of its own. Before, the dispatcher ran the hook
// and waited with it for good, and so did every caller, and Close.
func TestCommandDoneHookMaySendCommands(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var cl *Cluster
	inner := make(chan error, 4)
	cl = connect(t, tc, ClusterOptions{CommandTimeout: 2 * time.Second, Hooks: Hooks{CommandDone: func(d CommandDone) {
		if d.Name == "KEYS" || d.Name == "MONITOR" {
			_, err := cl.Do(context.Background(), Cmd("GET", "hook:inner"))
			inner <- err
		}
	}}})
	for _, c := range []struct {
		cmd  Command
		want error
	}{
		{Cmd("KEYS", "*"), ErrNodeCommand},
		{Cmd("MONITOR"), ErrUnsupportedCommand},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := cl.Send(c.cmd).Await()
			done <- err
		}()
		assert.ErrorIs(t, testwait.Recv(t, done, "the command's caller never woke"), c.want)
		assert.NoError(t, testwait.Recv(t, inner, "the hook's own GET never returned"))
	}
	closed := make(chan error, 1)
	go func() { closed <- cl.Close() }()
	assert.NoError(t, testwait.Recv(t, closed, "Close never returned"))
}

// Scan, Script.Run and Library report every command they send, each container command named
// with its subcommand.
func TestCommandDoneHookNamesSubcommands(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var got reports
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: got.hook}})
	ctx := context.Background()
	names := func() map[string]int {
		n := map[string]int{}
		for _, d := range got.take() {
			n[d.Name]++
		}
		return n
	}
	require.NoError(t, cl.Set(ctx, "subnames", "v"))
	got.take()

	for _, err := range cl.Scan(ctx, ScanOptions{}) {
		require.NoError(t, err)
	}
	n := names()
	assert.Equal(t, 3, n["SCAN"], "%v", n) // one page per master: a few keys
	assert.Equal(t, 6, n["CLUSTER NODES"], "%v", n)

	s := NewScript("return redis.call('GET', KEYS[1])")
	v, err := s.Run(ctx, cl, []string{"subnames"})
	require.NoError(t, err)
	assert.Equal(t, "v", v.String())
	n = names()
	assert.Equal(t, 2, n["EVALSHA"], "%v", n) // NOSCRIPT, then the reply
	assert.Equal(t, 1, n["SCRIPT LOAD"], "%v", n)
	assert.Zero(t, n["SCRIPT"], "%v", n)
}

// A Future fits the allocation size class of 896 bytes: Send allocates one per command, and the
// next class is 1024.
func TestFutureSizeClass(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Future{}), uintptr(896))
}

// Where a report runs: a reply, the server's error reply and a blocking command's reply on the
// goroutine that read it; a command the dispatcher refused on a goroutine started for the report.
// A hook that ends its goroutine (runtime.Goexit, as a test's FailNow does) there still lets the
// command's caller have its result.
func TestCommandDoneHookGoroutines(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var mu sync.Mutex
	started := map[string]bool{} // by command: reported on a goroutine started for the report
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: func(d CommandDone) {
		own := strings.Contains(string(debug.Stack()), "actors.(*Future).observe")
		mu.Lock()
		started[d.Name] = own
		mu.Unlock()
		if d.Name == "KEYS" {
			runtime.Goexit()
		}
	}}})
	ctx := context.Background()
	require.NoError(t, cl.Set(ctx, "where", "v"))
	_, err := cl.LPush(ctx, "where", "x")
	require.ErrorIs(t, err, ErrWrongType)
	_, err = cl.Send(Cmd("HGET", "where", "f")).Await()
	require.ErrorIs(t, err, ErrWrongType)
	_, err = cl.Do(ctx, Cmd("BLPOP", "where:list", 0.05))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := cl.Send(Cmd("KEYS", "*")).Await()
		done <- err
	}()
	assert.ErrorIs(t, testwait.Recv(t, done, "KEYS never completed: its hook ended its goroutine"), ErrNodeCommand)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]bool{"SET": false, "LPUSH": false, "HGET": false, "BLPOP": false, "KEYS": true}, started)
}

// Close waits for the reports running on goroutines of their own: once it returns, the command
// it failed (a GET written to a paused server, failed when Close gives up on its reply) has been
// reported and is complete.
func TestCloseWaitsForReports(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var reported atomic.Int64
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: func(d CommandDone) {
		if d.Err != nil {
			time.Sleep(200 * time.Millisecond) // a slow exporter: work, not a wait for an event
			reported.Add(1)
		}
	}}})
	m := tc.Masters()[0]
	key := tagOn(tc, m, "close")
	_, err := m.Do(context.Background(), "CLIENT", "PAUSE", "1500", "ALL")
	require.NoError(t, err)
	pending := cl.Send(Cmd("GET", key))
	require.NoError(t, cl.Close())
	assert.Equal(t, int64(1), reported.Load(), "Close returned before the report")
	select {
	case <-pending.Done():
	default:
		t.Fatal("Close returned before the GET it failed was complete")
	}
	_, err = pending.Await()
	assert.Error(t, err)
}

// Tx refused before it is sent is reported too, as Do is, and so are MGet's and Watch's calls
// refused before anything is sent; a transaction the server refused is reported with the error
// Tx returns.
func TestCommandDoneHookRefusedCalls(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	var got reports
	cl := connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: got.hook}})
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := cl.Tx(ended, Cmd("INCR", "{tx}a"))
	require.ErrorIs(t, err, context.Canceled)
	d := got.one(t)
	assert.Equal(t, "MULTI", d.Name)
	assert.ErrorIs(t, d.Err, context.Canceled)
	_, err = cl.Tx(context.Background(), Cmd("SET", "{tx}a", struct{}{}))
	require.Error(t, err)
	assert.Equal(t, err, got.one(t).Err)

	_, err = cl.Tx(context.Background(), Cmd("SET", "{tx}a"), Cmd("INCR", "{tx}b")) // SET's arity: EXECABORT
	require.ErrorIs(t, err, ErrExecAbort)
	d = got.one(t)
	assert.Equal(t, "MULTI", d.Name)
	assert.Equal(t, err, d.Err)
	assert.Equal(t, cl.NodeForKey("{tx}a").Addr(), d.Addr)

	_, err = cl.MGet(ended, "{a}1", "{b}1")
	require.ErrorIs(t, err, context.Canceled)
	d = got.one(t)
	assert.Equal(t, "MGET", d.Name)
	assert.ErrorIs(t, d.Err, context.Canceled)

	err = cl.Watch(ended, func(*WatchTx) error { return nil }, "{w}k")
	require.ErrorIs(t, err, context.Canceled)
	d = got.one(t)
	assert.Equal(t, "WATCH", d.Name)
	assert.ErrorIs(t, d.Err, context.Canceled)

	require.NoError(t, cl.Close())
	err = cl.Watch(context.Background(), func(*WatchTx) error { return nil }, "{w}k")
	require.ErrorIs(t, err, ErrClientClosed)
	assert.ErrorIs(t, got.one(t).Err, ErrClientClosed)
}
