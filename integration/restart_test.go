package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestWholeClusterRestart SIGKILLs every node of the cluster under load, then starts them all
// again (the same ports and node ids, no data: the harness keeps no persistence), as a host's
// reboot does. While the cluster is gone every command fails within its deadline, with a
// connection or timeout error; once it is back the same client carries on, with no error after
// it recovered and no wrong read.
func TestWholeClusterRestart(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	const timeout = 2 * time.Second
	cl := connect(t, tc, api.ClusterOptions{CommandTimeout: timeout})
	l := startLoad(t, cl, 16)
	waitOps(t, l, 2000)

	ctx := context.Background()
	nodes := tc.Nodes()
	for _, n := range nodes {
		require.NoError(t, tc.Kill(n))
	}
	killedAt := time.Now()
	// As many commands have failed as there are workers: the cluster is gone for the client too.
	deadline := time.Now().Add(3 * timeout)
	for l.report().total() < len(l.workers) {
		require.True(t, time.Now().Before(deadline), "commands to a dead cluster fail within their deadline")
		time.Sleep(5 * time.Millisecond) // polling a counter the workers advance
	}
	down := l.report()

	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tc.Restart(ctx, n)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	readyAt := time.Now()
	waitOps(t, l, 1)
	resumed := time.Since(readyAt)
	waitOps(t, l, 2000)
	r := l.report()
	recovery := time.Duration(0)
	if r.lastErr.After(readyAt) {
		recovery = r.lastErr.Sub(readyAt)
	}
	errsBefore := r.total()
	waitOps(t, l, 5000)
	errsAfter := l.report().total() - errsBefore

	l.halt()
	r = l.report()
	t.Logf("cluster down %s (killed to ready again); errors while down %d; an op done %s and the last error %s after it was ready; %s",
		readyAt.Sub(killedAt).Round(time.Millisecond), down.total(), resumed.Round(time.Millisecond), recovery.Round(time.Millisecond), r)
	assert.Zero(t, errsAfter, "no error once the client recovered")
	assert.Less(t, recovery, 2*time.Second, "traffic recovers soon after the cluster is back")
	assert.Zero(t, r.wrong)
	assert.LessOrEqual(t, r.maxWait, timeout+time.Second, "every command completed within its deadline")
	for kind := range r.errs {
		assert.True(t, strings.HasSuffix(kind, "timeout") || strings.Contains(kind, "connection lost"),
			"an error of an expected kind: %s", kind)
	}
}
