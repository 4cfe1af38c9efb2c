package integration

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

func connect(t *testing.T, tc *testcluster.Cluster, opts api.ClusterOptions) *api.Cluster {
	t.Helper()
	for _, a := range tc.Addrs()[:2] {
		opts.RootNodes = append(opts.RootNodes, api.NodeOptions{URL: "redis://" + a})
	}
	cl, err := api.CreateCluster(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.Connect(ctx))
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// waitOps waits until the load has done n more operations: it is running at full speed.
func waitOps(t *testing.T, l *load, n int64) {
	t.Helper()
	target := l.ops.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for l.ops.Load() < target {
		require.True(t, time.Now().Before(deadline), "the load made no progress")
		time.Sleep(5 * time.Millisecond) // polling a counter the workers advance
	}
}

// linkWatch follows one node's connection through the client's events: the node-disconnects seen,
// and whether the connection is up (from a node-ready, the handshake done, to the next
// node-disconnect). Register it before Connect, to see the first node-ready. Handlers run one after
// another in the order they were registered, so another handler may see an event before this one:
// wait on counts (awaitUp), not on the order of two handlers.
//
// It assumes one node actor per address for the test's length: one replaced under the same address
// (the node left the map and came back) could report a late disconnect after its successor's ready.
type linkWatch struct {
	mu      sync.Mutex
	up      bool
	downs   int64         // node-disconnect events seen
	changed chan struct{} // closed and replaced at every change of up or downs
}

func watchLink(cl *api.Cluster, addr string) *linkWatch {
	w := &linkWatch{changed: make(chan struct{})}
	cl.OnEvent(func(e api.Event) {
		if e.Addr != addr {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		switch e.Type {
		case api.EventNodeReady:
			w.up = true
		case api.EventNodeDisconnect:
			w.up = false
			w.downs++
		default:
			return
		}
		close(w.changed)
		w.changed = make(chan struct{})
	})
	return w
}

// disconnects returns the number of node-disconnect events seen so far.
func (w *linkWatch) disconnects() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.downs
}

// awaitUp waits until at least downs node-disconnects have been seen and the connection is up
// again after the last of them, failing the test after within.
func (w *linkWatch) awaitUp(t *testing.T, downs int64, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		w.mu.Lock()
		ok, seen, changed := w.up && w.downs >= downs, w.downs, w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("the node's connection is not up after %d disconnects within %s (%d seen)", downs, within, seen)
		}
	}
}

// tally counts what Hooks.CommandDone is told: every command, those that failed, and those
// answered by each node.
type tally struct {
	reported, failed atomic.Int64
	mu               sync.Mutex
	answeredBy       map[string]int
}

func (y *tally) done(d api.CommandDone) {
	y.reported.Add(1)
	if d.Err != nil {
		y.failed.Add(1)
		return
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.answeredBy == nil {
		y.answeredBy = map[string]int{}
	}
	y.answeredBy[d.Addr]++
}

// check compares the tally with what a halted load counted: one report per command, a failed
// one per error the workers met.
func (y *tally) check(t *testing.T, l *load, r report) {
	t.Helper()
	assert.Equal(t, int64(l.setUp)+l.sent.Load(), y.reported.Load(), "one CommandDone per command")
	assert.Equal(t, int64(r.total()), y.failed.Load(), "one failed CommandDone per error")
}

// answered returns how many commands addr answered, by the tally.
func (y *tally) answered(addr string) int {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.answeredBy[addr]
}
