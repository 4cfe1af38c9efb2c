package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestLiveResharding moves 1000 slots holding the load's keys from one master to another with
// MIGRATE while 64 workers run: no error may reach a caller, every value must be right.
func TestLiveResharding(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, api.ClusterOptions{})
	l := startLoad(t, cl, 64)
	waitOps(t, l, 2000)

	ctx := context.Background()
	from, to := tc.Masters()[0], tc.Masters()[1]
	// The 1000 slots of from that hold the most load keys first, then others of from.
	slots := slotsOf(tc, from, l, 1000)
	start := time.Now()
	for _, s := range slots {
		require.NoError(t, tc.MigrateSlot(ctx, s, to))
	}
	took := time.Since(start)
	waitOps(t, l, 2000)
	l.halt()
	r := l.report()
	l.verify(t, &r)
	t.Logf("moved %d slots (%d holding load keys) in %s; %s", len(slots), loadSlots(l, slots), took.Round(time.Millisecond), r)
	assert.Zero(t, r.total(), "no error reaches a caller during resharding")
	assert.Zero(t, r.wrong)
	assert.Zero(t, r.lost)
	assert.Zero(t, r.unsettled)
}

// slotsOf returns n slots owned by master, those holding load keys first.
func slotsOf(tc *testcluster.Cluster, master *testcluster.Node, l *load, n int) []int {
	seen := map[int]bool{}
	var out []int
	for _, w := range l.workers {
		for _, name := range w.names {
			s := api.GetSlot(name)
			if !seen[s] && tc.MasterFor(s) == master {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for s := 0; s < testcluster.NumSlots && len(out) < n; s++ {
		if !seen[s] && tc.MasterFor(s) == master {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func loadSlots(l *load, slots []int) int {
	in := map[int]bool{}
	for _, s := range slots {
		in[s] = true
	}
	holding := map[int]bool{}
	for _, w := range l.workers {
		for _, name := range w.names {
			if s := api.GetSlot(name); in[s] {
				holding[s] = true
			}
		}
	}
	return len(holding)
}
