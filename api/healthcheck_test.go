package api

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// Servers whose idle timeout (timeout 1) is shorter than the health check's default (10 s) close
// the client's idle connections; a command written into one as it closes fails, may-have-run (a
// review: 19 INCRs in 2 of 5 runs of bursts timed to the close). HealthCheckInterval below the
// servers' timeout keeps them open: an idle client with it set sees no connection closed while
// one with the default sees several.
func TestHealthCheckIntervalKeepsIdleConnections(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas, ExtraConfig: []string{"timeout 1"}})
	disconnects := func(cl *Cluster) (*atomic.Int32, chan struct{}) {
		var n atomic.Int32
		seen := make(chan struct{}, 16)
		cl.OnEvent(func(e Event) {
			if e.Type == EventNodeDisconnect {
				n.Add(1)
				seen <- struct{}{}
			}
		})
		return &n, seen
	}
	kept := connect(t, tc, ClusterOptions{HealthCheckInterval: 300 * time.Millisecond})
	keptDrops, keptDropped := disconnects(kept)
	idle := connect(t, tc, ClusterOptions{})
	idleDrops, dropped := disconnects(idle)
	for range len(tc.Masters()) { // the server closes each of the default client's connections
		select {
		case <-dropped:
		case <-time.After(10 * time.Second):
			require.FailNow(t, "the servers closed no idle connection", "%d seen", idleDrops.Load())
		}
	}
	// The other client's connections, idle longer, would have been closed by now; their events
	// may come a moment after the idle client's.
	select {
	case <-keptDropped:
	case <-time.After(time.Second):
	}
	assert.Zero(t, keptDrops.Load(), "connections closed although PINGed every 300 ms")
	_, err := kept.Incr(t.Context(), "health")
	require.NoError(t, err)
}
