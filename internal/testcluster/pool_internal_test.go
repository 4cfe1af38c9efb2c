package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usePool installs a new pool in place of Main's for the rest of the test, once the starts under way
// of Main's have ended, and closes it at the end. A test that changes the package's globals (ports,
// TMPDIR) calls it first, so that no start in the background uses them. The test must not run in
// parallel with others.
func usePool(t *testing.T) *pool {
	p := newPool()
	poolMu.Lock()
	old := thePool
	thePool = p
	poolMu.Unlock()
	if old != nil {
		old.wg.Wait() // no take or refill of old can begin: it is not installed, and no test runs beside
	}
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
	p.refill()
	p.wg.Wait()
	p.mu.Lock()
	warm := map[int]bool{}
	idle := append([]*Node(nil), p.idle...)
	for _, n := range idle {
		warm[n.PID()] = true
	}
	p.mu.Unlock()
	require.Len(t, warm, 6, "twice what was taken is started")
	// Past Redis's wait for new masters, as servers started during an earlier test are.
	require.NoError(t, poll(t.Context(), "pooled servers' uptime of 2 s", func(ctx context.Context) error {
		for _, n := range idle {
			info, err := n.Info(ctx, "server")
			if err != nil {
				return err
			}
			if up, _ := strconv.Atoi(info["uptime_in_seconds"]); up < 2 {
				return fmt.Errorf("%s up for %d s", n, up)
			}
		}
		return nil
	}))

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

	p.wg.Wait() // the replacements the cluster started once formed
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

// A test that changes $REDIS_SERVER leaves the pool starting servers of the new binary, the starts
// of the old one discarded as they end.
func TestPoolFollowsTheBinary(t *testing.T) {
	p := usePool(t)
	bin, err := findServer()
	require.NoError(t, err)
	other := filepath.Join(t.TempDir(), "redis-server")
	require.NoError(t, os.Symlink(bin, other))
	p.take(2, bin)
	p.refill() // four starts of bin under way
	require.Empty(t, p.take(2, other))
	p.refill()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Len(t, p.idle, 4)
	for _, n := range p.idle {
		assert.Equal(t, other, n.bin)
	}
}
