package api

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// allocsPerRun warms f up, then returns its allocations per call in steady state, counted in the
// whole process (the actors and readers included) and not rounded down as testing.AllocsPerRun's.
// Work of the client's own in the background (a topology refresh, a node's clock) can only add to
// a window's count: the least of three windows is kept. (CI run 83, beside two load tests, counted
// 1.14 for the first case measured, 1.00 in every run alone or beside a busy CPU.)
func allocsPerRun(f func()) float64 {
	const runs = 4000
	for range 1000 {
		f()
	}
	least := math.Inf(1)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		least = min(least, float64(after.Mallocs-before.Mallocs)/runs)
	}
	return least
}

// allocSlack covers what the client's tickers allocate meanwhile. Under the race detector, which
// makes sync.Pool drop Futures at random, the counts mean little: `make test` runs this test
// without it too.
func allocSlack() float64 {
	if raceEnabled {
		return 1
	}
	return 0.05
}

// TestGETAllocations: the GET path through the whole client — Cmd, dispatcher, node, reader — in
// steady state. Send hands out its Future, so it costs that one allocation (a short reply is
// stored inside it; a longer one costs a second). Do reuses its Future: a GET costs one allocation,
// the value's own memory, whatever its size.
func TestGETAllocations(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	short, long := "a short value", strings.Repeat("v", 1024)
	require.NoError(t, cl.Set(ctx, "alloc:short", short))
	require.NoError(t, cl.Set(ctx, "alloc:long", long))

	check := func(want string, v []byte, err error) {
		if err != nil || string(v) != want {
			panic(fmt.Sprintf("unexpected reply %.20q %v", v, err))
		}
	}
	sendGet := func(key, want string) func() {
		return func() {
			v, err := cl.Send(Cmd("GET", key)).Await()
			check(want, v.Bytes(), err)
		}
	}
	cancellable, cancel := context.WithCancel(ctx)
	defer cancel()
	doGet := func(key, want string) func() {
		return func() {
			v, err := cl.Do(ctx, Cmd("GET", key))
			check(want, v.Bytes(), err)
		}
	}
	// One key on each master, read in turn: each connection sits quiet between its GETs long
	// enough for a lone caller to peek at it first (node.Options.Alone), which costs nothing.
	var spread []string
	for i := 0; len(spread) < 3; i++ {
		k := fmt.Sprintf("alloc:spread:%d", i)
		if !servedBy(tc, spread, k) {
			spread = append(spread, k)
			require.NoError(t, cl.Set(ctx, k, short))
		}
	}
	next := 0
	doGetSpread := func() {
		next = (next + 1) % len(spread)
		v, err := cl.Do(ctx, Cmd("GET", spread[next]))
		check(short, v.Bytes(), err)
	}
	doGetCancellable := func() {
		v, err := cl.Do(cancellable, Cmd("GET", "alloc:long"))
		check(long, v.Bytes(), err)
	}
	value := []byte("0123456789abcdef")
	sendSet := func() {
		if _, err := cl.Send(Cmd("SET", "alloc:set", value)).Await(); err != nil {
			panic(err)
		}
	}
	doSet := func() {
		if _, err := cl.Do(ctx, Cmd("SET", "alloc:set", value)); err != nil {
			panic(err)
		}
	}
	for _, c := range []struct {
		name string
		run  func()
		max  float64
	}{
		{"Send GET, 13 B", sendGet("alloc:short", short), 1},
		{"Send GET, 1 KiB", sendGet("alloc:long", long), 2},
		{"Send SET", sendSet, 1},
		{"Do GET, 13 B", doGet("alloc:short", short), 1},
		{"Do GET, 1 KiB", doGet("alloc:long", long), 1},
		{"Do GET, 1 KiB, a context that can end", doGetCancellable, 1},
		{"Do GET, 13 B, a key on each master in turn", doGetSpread, 1},
		{"Do SET", doSet, 1},
	} {
		allocs := allocsPerRun(c.run)
		t.Logf("%s: %.2f allocations", c.name, allocs)
		assert.LessOrEqual(t, allocs, c.max+allocSlack(), c.name)
	}
}

// TestDoReusesFuturesSafely: callers cancel at random moments — before the command is written,
// while it waits for its reply — so futures are abandoned on connections while others are reused.
// Every reply that comes back must be the caller's own, and every value must stay intact after
// its Future went back to the pool.
func TestDoReusesFuturesSafely(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	const keys = 64
	valueOf := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 10+i*7) } // 10..451 B
	for i := range keys {
		require.NoError(t, cl.Set(ctx, fmt.Sprint("reuse:", i), valueOf(i)))
	}

	const callers, rounds = 32, 300
	errs := make(chan error, callers)
	for c := range callers {
		go func() {
			var kept [][]byte // values from earlier rounds, checked again at the end
			var keptKeys []int
			for r := range rounds {
				i := (c*rounds + r) % keys
				cctx, cancel := context.WithCancel(ctx)
				if r%3 == 0 {
					go cancel() // races the reply
				}
				v, err := cl.Do(cctx, Cmd("GET", fmt.Sprint("reuse:", i)))
				cancel()
				if err != nil {
					if cctx.Err() == nil {
						errs <- fmt.Errorf("GET reuse:%d: %w", i, err)
						return
					}
					continue
				}
				if !bytes.Equal(v.Bytes(), valueOf(i)) {
					errs <- fmt.Errorf("GET reuse:%d returned %.20q…, another command's reply", i, v.Bytes())
					return
				}
				kept, keptKeys = append(kept, v.Bytes()), append(keptKeys, i)
			}
			for j, b := range kept {
				if !bytes.Equal(b, valueOf(keptKeys[j])) {
					errs <- fmt.Errorf("value of reuse:%d changed after its Future was reused", keptKeys[j])
					return
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		require.NoError(t, <-errs)
	}
}

// servedBy reports whether key's master also serves one of keys.
func servedBy(tc *testcluster.Cluster, keys []string, key string) bool {
	for _, k := range keys {
		if tc.MasterFor(GetSlot(k)) == tc.MasterFor(GetSlot(key)) {
			return true
		}
	}
	return false
}
