package integration

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// linkWatch follows one node's connection through the client's events: up from its node-ready (the
// handshake done) to its next node-disconnect. Register it before Connect, to see the first one.
type linkWatch struct {
	disconnects atomic.Int64

	mu   sync.Mutex
	up   bool
	rise chan struct{} // closed when up turns true
}

func watchLink(cl *api.Cluster, addr string) *linkWatch {
	w := &linkWatch{rise: make(chan struct{})}
	cl.OnEvent(func(e api.Event) {
		if e.Addr != addr {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		switch {
		case e.Type == api.EventNodeReady && !w.up:
			w.up = true
			close(w.rise)
		case e.Type == api.EventNodeDisconnect:
			w.disconnects.Add(1)
			if w.up {
				w.up, w.rise = false, make(chan struct{})
			}
		}
	})
	return w
}

// awaitUp waits until the node's connection is up, failing the test after within.
func (w *linkWatch) awaitUp(t *testing.T, within time.Duration) {
	t.Helper()
	w.mu.Lock()
	rise := w.rise
	w.mu.Unlock()
	select {
	case <-rise:
	case <-time.After(within):
		t.Fatalf("the node's connection is not up again within %s", within)
	}
}
