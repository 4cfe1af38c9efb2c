package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// A Send with nothing else of the client in flight is lent the actors, and its Await reads the
// reply (see Cluster.Send). These are the ways a caller could use its Future that must still work.
func TestLoneSend(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	bg := context.Background()

	t.Run("one at a time", func(t *testing.T) {
		for i := range 200 {
			_, err := cl.Send(Cmd("SET", "send:one", i)).Await()
			require.NoError(t, err)
			v, err := cl.Send(Cmd("GET", "send:one")).AwaitContext(bg)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), v.String())
		}
	})
	t.Run("pipelined keep their order", func(t *testing.T) {
		for range 50 {
			require.NoError(t, cl.Set(bg, "send:pipe", "0"))
			f1 := cl.Send(Cmd("INCR", "send:pipe"))
			f2 := cl.Send(Cmd("INCR", "send:pipe"))
			f3 := cl.Send(Cmd("GET", "send:pipe"))
			v, err := f3.Await() // the last first: the first's held token must not hold it up
			require.NoError(t, err)
			assert.Equal(t, "2", v.String())
			v, err = f2.Await()
			require.NoError(t, err)
			assert.Equal(t, int64(2), mustInt(t, v))
			v, err = f1.Await()
			require.NoError(t, err)
			assert.Equal(t, int64(1), mustInt(t, v))
		}
	})
	t.Run("never awaited holds nobody", func(t *testing.T) {
		for i := range 50 {
			cl.Send(Cmd("SET", "send:dropped", i)) // its Future is dropped
			v, err := cl.Do(bg, Cmd("GET", "send:dropped"))
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), v.String())
		}
	})
	t.Run("awaited through Done", func(t *testing.T) {
		for range 50 {
			f := cl.Send(Cmd("ECHO", "done"))
			<-f.Done()
			v, err := f.Await()
			require.NoError(t, err)
			require.Equal(t, "done", v.String())
		}
	})
	t.Run("awaited on another goroutine", func(t *testing.T) {
		for range 50 {
			f := cl.Send(Cmd("ECHO", "there"))
			got := make(chan string, 2)
			for range 2 {
				go func() {
					v, err := f.Await()
					if err != nil {
						got <- err.Error()
						return
					}
					got <- v.String()
				}()
			}
			assert.Equal(t, "there", <-got)
			assert.Equal(t, "there", <-got)
		}
	})
	t.Run("mixed with Do on many goroutines", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("send:mixed:%d", g)
				for i := range 100 {
					var err error
					if i%2 == 0 {
						_, err = cl.Send(Cmd("INCR", key)).Await()
					} else {
						_, err = cl.Do(bg, Cmd("INCR", key))
					}
					if !assert.NoError(t, err) {
						return
					}
				}
			}()
		}
		wg.Wait()
		for g := range 8 {
			v, err := cl.Get(bg, fmt.Sprintf("send:mixed:%d", g))
			require.NoError(t, err)
			assert.Equal(t, "100", v)
		}
	})
	t.Run("a blocking one counts nothing while it waits", func(t *testing.T) {
		// BLPOP 0 waits on a connection of its own for as long as it takes: counted, it would keep
		// every lone Do and Send from being lent the actors all that time.
		key := "send:blocked"
		master := tc.MasterFor(GetSlot(key))
		f := cl.Send(Cmd("BLPOP", key, 0))
		awaitBlocked(t, master)
		assert.Zero(t, cl.sending.Load(), "a blocked BLPOP counted in flight")
		for i := range 20 {
			_, err := cl.Send(Cmd("SET", "send:beside", i)).Await()
			require.NoError(t, err)
			v, err := cl.Do(bg, Cmd("GET", "send:beside"))
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), v.String())
		}
		assert.Zero(t, cl.sending.Load())
		_, err := cl.Send(Cmd("RPUSH", key, "x")).Await()
		require.NoError(t, err)
		v, err := f.Await()
		require.NoError(t, err)
		require.Equal(t, 2, v.Len())
		assert.Equal(t, key, v.Index(0).String())
		assert.Equal(t, "x", v.Index(1).String())
		assert.Zero(t, cl.sending.Load(), "its completion took it out a second time")
	})
	t.Run("failures count nothing in flight", func(t *testing.T) {
		_, err := cl.Send(Cmd("MSET", "send:{a}", 1, "send:{b}", 2)).Await()
		require.ErrorIs(t, err, ErrCrossSlot)
		_, err = cl.Send(Cmd("INCR", "send:pipe", "extra")).Await()
		require.Error(t, err)
	})
	assert.Zero(t, cl.sending.Load(), "every Send completed")
	assert.Zero(t, cl.inDo.Load())
}

func mustInt(t *testing.T, v resp.Value) int64 {
	t.Helper()
	n, err := v.Int64()
	require.NoError(t, err)
	return n
}

// Lone Sends (held tokens) mixed with every way of waiting for them, with Do, from
// a few goroutines. Every Future must complete within a bound, no connection may be dropped, and
// the counters must come back to zero.
func TestSendStress(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	var drops atomic.Int64
	cl.OnEvent(func(e Event) {
		if e.Type == EventNodeDisconnect {
			drops.Add(1)
			t.Logf("disconnect: %v", e.Err)
		}
	})
	bg := context.Background()
	for i := range 20 {
		require.NoError(t, cl.Set(bg, "rv:"+strconv.Itoa(i), i))
	}
	workers := 2
	iters := 300
	var deferred atomic.Int64
	var wg sync.WaitGroup
	var pending sync.WaitGroup
	errs := make(chan string, 100)
	bound := func(f *Future, what string) {
		select {
		case <-f.r.Future.Done(): // not api Done: no ReleaseHeld
		case <-time.After(3 * time.Second):
			select {
			case errs <- what + ": not complete after 3s":
			default:
			}
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for range iters {
				k := "rv:" + strconv.Itoa(rnd.IntN(20))
				switch rnd.IntN(8) {
				case 0:
					_, err := cl.Send(Cmd("GET", k)).Await()
					if err != nil {
						errs <- "await: " + err.Error()
					}
				case 1:
					ctx, cancel := context.WithCancel(bg)
					cancel()
					f := cl.Send(Cmd("GET", k))
					if f.r.DeferRead {
						deferred.Add(1)
					}
					_, _ = f.AwaitContext(ctx)
					bound(f, "cancelled")
				case 2:
					f := cl.Send(Cmd("GET", k))
					if f.r.DeferRead {
						deferred.Add(1)
					}
					select {
					case <-f.Done():
					case <-time.After(3 * time.Second):
						errs <- "Done not closed"
					}
				case 3:
					f := cl.Send(Cmd("GET", k)) // never awaited
					pending.Add(1)
					go func() { defer pending.Done(); bound(f, "never awaited") }()
				case 4:
					f := cl.Send(Cmd("GET", k))
					if f.r.DeferRead {
						deferred.Add(1)
					}
					ch := make(chan struct{})
					go func() { defer close(ch); _, _ = f.Await() }()
					<-ch
				case 5:
					_, err := cl.Do(bg, Cmd("GET", k))
					if err != nil {
						errs <- "do: " + err.Error()
					}
				case 6:
					f := cl.Send(Cmd("GET", k))
					if f.r.DeferRead {
						deferred.Add(1)
					}
					var both sync.WaitGroup
					for range 2 {
						both.Add(1)
						go func() { defer both.Done(); _, _ = f.Await() }()
					}
					both.Wait()
				case 7:
					ctx, cancel := context.WithTimeout(bg, time.Duration(rnd.IntN(300))*time.Microsecond)
					f := cl.Send(Cmd("GET", k))
					if f.r.DeferRead {
						deferred.Add(1)
					}
					time.Sleep(time.Duration(rnd.IntN(200)) * time.Microsecond)
					_, _ = f.AwaitContext(ctx)
					cancel()
					bound(f, "deadline")
				}
			}
		}()
	}
	wg.Wait()
	pending.Wait()
	t.Logf("deferred sends: %d", deferred.Load())
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	require.Eventually(t, func() bool { return cl.sending.Load() == 0 && cl.inDo.Load() == 0 },
		2*time.Second, 5*time.Millisecond, "sending=%d inDo=%d", cl.sending.Load(), cl.inDo.Load())
	require.Zero(t, drops.Load(), "connections dropped")
}

// A lone Send whose held reply is a MOVED: ReadHeld reads it, the request is re-sent, and Await
// (or a wait on Done) gets the value from the new owner.
func TestHeldSendMoved(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{TopologyRefreshInterval: -1})
	bg := context.Background()
	const slot = 200
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = keyInSlot("rvmoved"+strconv.Itoa(i), slot)
		require.NoError(t, cl.Set(bg, keys[i], i))
	}
	require.NoError(t, tc.MigrateSlot(bg, slot, otherMaster(tc, tc.MasterFor(slot))))
	deferred := 0
	for i, k := range keys {
		// Not a synchronisation: a pause lets the actors go idle, so that more Sends are lent.
		time.Sleep(2 * time.Millisecond)
		f := cl.Send(Cmd("GET", k))
		if f.r.DeferRead {
			deferred++
		}
		if i%2 == 1 {
			<-f.Done()
		}
		v, err := f.Await()
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), v.String())
	}
	t.Logf("deferred: %d", deferred)
	require.Eventually(t, func() bool { return cl.sending.Load() == 0 }, time.Second, time.Millisecond)
}
