package testcluster

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usePool installs a new pool in place of Main's for the rest of the test, and closes it at the end.
// The test must not run in parallel with others.
func usePool(t *testing.T) *pool {
	p := newPool()
	poolMu.Lock()
	old := thePool
	thePool = p
	poolMu.Unlock()
	t.Cleanup(func() {
		poolMu.Lock()
		thePool = old
		poolMu.Unlock()
		p.close()
	})
	return p
}

// A cluster takes the servers the pool started ahead, forms, and ends with its own settings: its
// node timeout, failovers on (a killed master's replica takes over), its users. Stop removes the
// pooled servers' directories, and the pool's close stops the servers nobody took.
func TestClusterFromThePool(t *testing.T) {
	p := usePool(t)
	bin, err := findServer()
	require.NoError(t, err)
	require.Empty(t, p.take(3, bin), "a new pool has nothing started")
	p.wg.Wait() // the starts take asks for
	p.mu.Lock()
	warm := map[int]bool{}
	for _, n := range p.idle {
		warm[n.PID()] = true
	}
	p.mu.Unlock()
	require.Len(t, warm, 6, "twice what was asked for is started")

	users := []User{{Name: "app", Password: "pw", Rules: []string{"on", "~*", "+@all"}}}
	start := time.Now()
	c := New(t, Options{Users: users})
	t.Logf("a 3×1 cluster of warm servers was ready in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, n := range c.Nodes() {
		assert.True(t, n.pooled && warm[n.PID()], "%s came from the pool", n)
		v, err := n.Do(ctx, "CONFIG", "GET", "cluster-node-timeout")
		require.NoError(t, err)
		assert.Equal(t, []any{"cluster-node-timeout", "1000"}, v, "%s", n)
		v, err = n.Do(ctx, "CONFIG", "GET", "cluster-replica-no-failover")
		require.NoError(t, err)
		assert.Equal(t, []any{"cluster-replica-no-failover", "no"}, v, "%s", n)
		v, err = n.Do(ctx, "ACL", "WHOAMI") // as the default user
		require.NoError(t, err)
		assert.Equal(t, "default", v)
		_, err = n.Do(ctx, "ACL", "GETUSER", "app")
		require.NoError(t, err)
		v, err = n.Do(ctx, "ACL", "LIST")
		require.NoError(t, err)
		assert.Len(t, v, 2, "%s: the default user and app", n)
	}

	old := c.MasterFor(0)
	require.NotNil(t, old)
	require.NoError(t, c.Kill(old))
	promoted, err := c.WaitForFailover(ctx, old)
	require.NoError(t, err, "the replica took over: failovers are on again")
	require.NotEqual(t, old, promoted)
	require.NoError(t, c.Restart(ctx, old))
	v, err := old.Do(ctx, "CONFIG", "GET", "cluster-node-timeout")
	require.NoError(t, err)
	assert.Equal(t, []any{"cluster-node-timeout", "1000"}, v, "a restart reads the config file")

	p.wg.Wait() // the replacements the cluster's take started
	p.mu.Lock()
	require.Len(t, p.idle, maxPooled, "the pool is refilled to twice the largest take")
	var left []*Node
	left = append(left, p.idle...)
	p.mu.Unlock()

	require.NoError(t, c.Stop())
	for _, n := range c.Nodes() {
		assert.NoDirExists(t, n.Dir())
		assert.True(t, processGone(n.PID()), "%s stopped", n)
	}
	p.close()
	for _, n := range left {
		assert.True(t, processGone(n.PID()), "%s, untaken, stopped at close", n)
	}
	assert.NoDirExists(t, p.dir)
	assert.Empty(t, p.take(1, bin), "a closed pool gives nothing")
	p.wg.Wait()
}

// Only clusters whose servers run the default config take from the pool.
func TestPoolServesOnlyTheDefaultConfig(t *testing.T) {
	p := usePool(t)
	for _, o := range []Options{
		{TLS: true},
		{Password: "pw"},
		{AnnounceHostname: func(int) string { return "a" }},
		{ExtraConfig: []string{"maxmemory 1mb"}},
		{NodeTimeout: 2 * time.Second},
	} {
		o, err := o.withDefaults()
		require.NoError(t, err)
		assert.Nil(t, pooledFor(o), "%+v", o)
	}
	o, err := Options{Masters: 1, Replicas: NoReplicas, Users: []User{{Name: "u"}}}.withDefaults()
	require.NoError(t, err)
	assert.Same(t, p, pooledFor(o))
}
