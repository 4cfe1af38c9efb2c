package integration

import (
	"context"
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
