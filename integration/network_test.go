package integration

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testproxy"
)

// TestNetworkFaults puts a TCP proxy between the client and one master (NodeAddressMap sends the
// client through it; the cluster bus is untouched, so no failover happens) and injects, in turn,
// latency, a blackhole, a half-close and a slow reader under load. Deadlines fire, the node is
// marked down, traffic recovers when the fault ends, and the goroutine count stays bounded.
func TestNetworkFaults(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	victim := tc.Masters()[2]
	px := testproxy.New(t, victim.Addr())
	const timeout = time.Second
	opts := api.ClusterOptions{
		CommandTimeout: timeout, ConnectTimeout: timeout,
		NodeAddressMap: map[string]string{victim.Addr(): px.Addr()},
	}
	opts.RootNodes = []api.NodeOptions{{URL: "redis://" + tc.Masters()[0].Addr()}}
	cl, err := api.CreateCluster(opts)
	require.NoError(t, err)
	link := watchLink(cl, px.Addr())
	require.NoError(t, cl.Connect(t.Context()))
	t.Cleanup(func() { _ = cl.Close() })

	baseline := runtime.NumGoroutine()
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if n := int64(runtime.NumGoroutine()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()

	l := startLoad(t, cl, 64)
	waitOps(t, l, 2000)
	link.awaitUp(t, 0, 10*time.Second)
	type expect int
	const (
		noErrors   expect = iota // slower, but within the deadline
		someErrors               // commands held past their deadline must fail
		mayFail                  // only the writes in flight at that instant fail: maybe none
	)
	type phase struct {
		name   string
		inject func()
		hold   time.Duration
		errors expect
	}
	phases := []phase{
		{"latency 50 ms", func() { px.Set(testproxy.Latency, 50*time.Millisecond) }, time.Second, noErrors},
		{"blackhole", func() { px.Set(testproxy.Blackhole, 0) }, 2 * time.Second, someErrors},
		{"half-close", px.HalfClose, 0, mayFail},
		{"slow reader", func() { px.Set(testproxy.SlowRead, 0) }, 2 * time.Second, someErrors},
	}
	for _, ph := range phases {
		before := l.report()
		disconnectsBefore := link.disconnects()
		ph.inject()
		if ph.hold > 0 {
			time.Sleep(ph.hold) // the fault lasts this long: a span of time, not a synchronisation
		}
		px.Set(testproxy.None, 0)
		cleared := time.Now()
		waitOps(t, l, 5000)
		// The other masters' commands flow meanwhile: a fault that marks the node down is over once
		// the node is up again after that disconnect, or the next fault could fall on a reconnect in
		// progress, or on no connection at all, and a late disconnect be counted in the next phase.
		downs := disconnectsBefore
		if ph.errors != noErrors {
			downs++
		}
		link.awaitUp(t, downs, 10*time.Second)
		after := l.report()
		recovery := time.Duration(0)
		for _, at := range []time.Time{after.lastErr, after.lastSlow} {
			if at.After(cleared) {
				recovery = max(recovery, at.Sub(cleared))
			}
		}
		errs := after.total() - before.total()
		t.Logf("%s: %d errors, %d disconnects of the node, recovery %s after the fault ended; slowest command %s",
			ph.name, errs, link.disconnects()-disconnectsBefore, recovery.Round(time.Millisecond), after.maxWait.Round(time.Millisecond))
		switch ph.errors {
		case noErrors:
			assert.Zero(t, errs, "%s: slower, but within the deadline", ph.name)
		case someErrors:
			assert.Positive(t, errs, "%s: commands held past their deadline fail", ph.name)
		}
		if ph.errors != noErrors {
			assert.Positive(t, link.disconnects()-disconnectsBefore, "%s: the node is marked down", ph.name)
		}
		assert.Less(t, recovery, 3*timeout, "%s: traffic recovers once the fault ends", ph.name)
	}
	l.halt()
	close(stopSampling)
	sampler.Wait()
	r := l.report()
	l.verify(t, &r)
	t.Logf("network faults: %s; goroutines: %d before the load, peak %d", r, baseline, peak.Load())
	assert.LessOrEqual(t, r.maxWait, timeout+time.Second, "every command completed within its deadline (and a tick, with room for a loaded machine)")
	assert.Zero(t, r.lost, "no acknowledged write lost")
	assert.Less(t, peak.Load(), int64(baseline+64+200), "goroutines stay bounded")
	for kind := range r.errs {
		assert.NotContains(t, kind, "other", "every error is of a known kind")
	}
}
