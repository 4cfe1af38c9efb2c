package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testproxy"
)

// TestCloseDuringFaults closes the client in the middle of each fault: Close returns, every
// command of the load completes (the workers all return), and TestMain's goleak finds nothing.
func TestCloseDuringFaults(t *testing.T) {
	t.Run("failover", func(t *testing.T) {
		tc := testcluster.New(t, testcluster.Options{})
		cl := connect(t, tc, api.ClusterOptions{})
		l := startLoad(t, cl, 64)
		waitOps(t, l, 2000)
		require.NoError(t, tc.Kill(tc.Masters()[0]))
		waitOps(t, l, 2000) // the load goes on for the other masters
		closeAndCheck(t, cl, l)
	})
	t.Run("resharding", func(t *testing.T) {
		tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
		cl := connect(t, tc, api.ClusterOptions{})
		l := startLoad(t, cl, 64)
		waitOps(t, l, 2000)
		from, to := tc.Masters()[0], tc.Masters()[1]
		slots := slotsOf(tc, from, l, 40)
		ctx := context.Background()
		for _, s := range slots[:20] {
			require.NoError(t, tc.MigrateSlot(ctx, s, to))
		}
		require.NoError(t, tc.BeginMigration(ctx, slots[20], to)) // a slot left mid-migration
		closeAndCheck(t, cl, l)
	})
	t.Run("blackhole", func(t *testing.T) {
		h := hostileSetup(t)
		l := startLoad(t, h.cl, 64)
		waitOps(t, l, 2000)
		h.px.Set(testproxy.Blackhole, 0) // commands to that node hang in the network when Close comes
		waitOps(t, l, 500)
		closeAndCheck(t, h.cl, l)
	})
	t.Run("hostile replies", func(t *testing.T) {
		h := hostileSetup(t)
		l := startLoad(t, h.cl, 64)
		waitOps(t, l, 2000)
		h.link.awaitUp(t, 0, 10*time.Second) // the injection must find a command connection
		h.px.InjectOnce("$10000000000\r\n")
		nextEvent(t, h.events, h.px)
		closeAndCheck(t, h.cl, l)
	})
	t.Run("storm", func(t *testing.T) {
		tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
		cl := connect(t, tc, api.ClusterOptions{})
		l := startLoad(t, cl, 64)
		waitOps(t, l, 2000)
		done := make(chan struct{})
		go func() { // a storm of short deadlines alongside the load
			defer close(done)
			for i := 0; i < 20_000; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3000)*time.Microsecond)
				_, _ = cl.Do(ctx, api.Cmd("GET", "storm"))
				cancel()
			}
		}()
		waitOps(t, l, 2000)
		closeAndCheck(t, cl, l)
		<-done
	})
}

// closeAndCheck closes the client under load and checks that it returns, that every worker's
// command completed, and that the errors are the ones a close explains.
func closeAndCheck(t *testing.T, cl *api.Cluster, l *load) {
	t.Helper()
	start := time.Now()
	require.NoError(t, cl.Close())
	closeTook := time.Since(start)
	l.halt() // returns only when every worker's last command completed
	r := l.report()
	t.Logf("Close took %s; %s", closeTook.Round(time.Millisecond), r)
	assert.Less(t, closeTook, 10*time.Second)
	_, err := cl.Send(api.Cmd("GET", "x")).Await()
	assert.True(t, errors.Is(err, api.ErrClientClosed), "after Close: %v", err)
}
