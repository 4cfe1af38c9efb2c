package api

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A Subscribe whose random master accepts connections and does not answer (a stopped process)
// gives it up for another within its CommandTimeout: any master will do for channels. (It waited
// out ConnectTimeout there, and failed: 5 of 15 Subscribes with one master of three stopped.)
func TestSubscribePassesOverAStoppedMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 1500 * time.Millisecond})
	ctx := context.Background()
	stopped := tc.Masters()[2]
	require.NoError(t, syscall.Kill(stopped.PID(), syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(stopped.PID(), syscall.SIGCONT) })
	failed := 0
	for i := range 15 {
		sub, err := cl.Subscribe(ctx, "stopped-master")
		if err != nil {
			failed++
			t.Logf("Subscribe %d: %v", i, err)
			continue
		}
		require.NoError(t, sub.Close())
	}
	assert.Zero(t, failed, "of 15 Subscribes, with %s stopped", stopped.Addr())
}
