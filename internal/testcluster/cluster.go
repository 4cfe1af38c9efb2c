package testcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of redis-server processes started by Start or New. Its set of nodes is fixed
// at start; their roles and the slot map change with Kill, failovers and migrations, and the methods that
// report them ask the servers. A Cluster is safe for concurrent use, although concurrent Kill, Restart and
// migrations of the same nodes make little sense.
type Cluster struct {
	opts  Options
	dir   string
	tls   *tlsFiles
	nodes []*Node // immutable after Start: masters first, then replicas grouped by master

	mu   sync.Mutex
	topo topology // the last slot map all running nodes agreed on

	stopping bool
	stopOnce sync.Once
	stopErr  error
}

// Start starts a cluster of opts.Masters × opts.Replicas servers (3 × 1 by default) and returns once it is
// ready (see WaitForReady). ctx bounds the start (60 s when it has no earlier deadline). On error nothing
// is left running. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, bin, dir, err := prepare(opts, "testcluster-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, defaultStartTimeout)
	defer cancel()
	c := &Cluster{opts: opts, dir: dir}
	if err := c.start(ctx, bin); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// prepare validates opts, finds the redis-server binary and makes the temporary directory every
// start needs.
func prepare(opts Options, dirPrefix string) (Options, string, string, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return opts, "", "", err
	}
	bin, err := findServer()
	if err != nil {
		return opts, "", "", err
	}
	dir, err := makeDir(dirPrefix)
	if err != nil {
		return opts, "", "", fmt.Errorf("testcluster: %w", err)
	}
	return opts, bin, dir, nil
}

// New is Start for tests and benchmarks: it fails t with t.Fatalf when the cluster cannot start (also when
// redis-server is missing: it never skips) and registers Stop with t.Cleanup, which runs also when the test
// fails.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return c
}

// start creates the nodes, starts them concurrently and forms the cluster.
func (c *Cluster) start(ctx context.Context, bin string) error {
	if c.opts.TLS {
		var err error
		if c.tls, err = writeTLSFiles(c.dir); err != nil {
			return err
		}
	}
	o := c.opts
	var warm []*Node
	if p := pooledFor(o); p != nil {
		warm = p.take(o.nodeCount(), bin)
		defer p.refill()
	}
	for i, n := range warm {
		n.index, n.users = i, o.Users
		c.nodes = append(c.nodes, n)
	}
	for i := len(warm); i < o.nodeCount(); i++ {
		n := &Node{
			index:    i,
			dir:      filepath.Join(c.dir, fmt.Sprintf("node%d", i)),
			bin:      bin,
			tlsCfg:   c.tls.clientConfig(),
			password: o.Password,
			users:    o.Users,
		}
		n.conf = serverConfig{dir: n.dir, cluster: true, tls: c.tls, opts: o}
		if o.AnnounceHostname != nil {
			n.conf.hostname = o.AnnounceHostname(i)
			n.conf.preferHostname = true
		}
		if err := os.Mkdir(n.dir, 0o755); err != nil {
			return fmt.Errorf("testcluster: %w", err)
		}
		c.nodes = append(c.nodes, n)
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.pooled {
				errs[i] = n.takeWarm(ctx)
			} else {
				errs[i] = n.start(ctx, true)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := c.form(ctx); err != nil {
		return err
	}
	return c.formed(ctx)
}

// Stop shuts every server down (SHUTDOWN NOSAVE NOW, then SIGKILL if it has not exited within 2 s), reaps
// it and removes the temporary directory. It touches only the processes the Cluster started. It is
// idempotent, safe after Kill, and returns only once no goroutine of the Cluster is left.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopping = true
		c.mu.Unlock()
		stopNodes(c.nodes)
		var errs []error
		for _, n := range c.nodes {
			if !n.pooled {
				continue
			}
			if err := os.RemoveAll(n.dir); err != nil {
				errs = append(errs, fmt.Errorf("testcluster: remove %s: %w", n.dir, err))
			}
		}
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("testcluster: remove %s: %w", c.dir, err))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// stopNodes stops nodes concurrently.
func stopNodes(nodes []*Node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop()
		}()
	}
	wg.Wait()
}

// checkStopped returns an error once Stop was called.
func (c *Cluster) checkStopped() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return errors.New("testcluster: the cluster was stopped")
	}
	return nil
}

func (c *Cluster) setTopology(t topology) {
	c.mu.Lock()
	c.topo = t
	c.mu.Unlock()
}

func (c *Cluster) topology() topology {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topo
}

// Nodes returns every node, running or not, in creation order: masters 0..Masters-1 first, then the
// replicas of master m at Masters + m*Replicas + r, then the empty masters. Roles may have changed since
// (see Masters).
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Addrs returns the address of every node ("127.0.0.1:port"), running or not, in Nodes order: a seed list.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Masters returns the running nodes that are masters now, asking each node (CLUSTER NODES, its own line).
// A node that does not answer keeps its last seen role.
func (c *Cluster) Masters() []*Node { return c.withRole(RoleMaster) }

// Replicas returns the running nodes that are replicas now; see Masters.
func (c *Cluster) Replicas() []*Node { return c.withRole(RoleReplica) }

func (c *Cluster) withRole(role string) []*Node {
	var out []*Node
	for _, n := range c.refreshRoles() {
		if n.Role() == role {
			out = append(out, n)
		}
	}
	return out
}

// refreshRoles refreshes and returns the running nodes of the cluster (not those detached).
func (c *Cluster) refreshRoles() []*Node {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var running []*Node
	for _, n := range c.nodes {
		if n.member() {
			_ = n.refreshSelf(ctx)
			running = append(running, n)
		}
	}
	return running
}

// ReplicasOf returns the running nodes that replicate master now.
func (c *Cluster) ReplicasOf(master *Node) []*Node {
	var out []*Node
	for _, n := range c.refreshRoles() {
		if n.Role() == RoleReplica && n.masterIDSeen() == master.ID() {
			out = append(out, n)
		}
	}
	return out
}

// MasterFor returns the master owning slot now, as the first running node that answers CLUSTER SLOTS
// sees it (possibly a killed node not yet replaced), or nil if none answers or the slot is unassigned.
func (c *Cluster) MasterFor(slot int) *Node {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if !n.member() {
			continue
		}
		v, err := n.Do(ctx, "CLUSTER", "SLOTS")
		if err != nil {
			continue
		}
		t, err := parseSlots(v)
		if err != nil {
			continue
		}
		return c.NodeByID(t.owner(slot))
	}
	return nil
}

// NodeByID returns the node with the cluster node id, or nil.
func (c *Cluster) NodeByID(id string) *Node {
	if id == "" {
		return nil
	}
	for _, n := range c.nodes {
		if n.ID() == id {
			return n
		}
	}
	return nil
}

// NodeByAddr returns the node listening on addr ("127.0.0.1:port"), or nil.
func (c *Cluster) NodeByAddr(addr string) *Node {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// TLSConfig returns a new client configuration trusting the cluster's CA (server name 127.0.0.1), or nil
// when TLS is off.
func (c *Cluster) TLSConfig() *tls.Config { return c.tls.clientConfig() }

// CAFile returns the path of the CA certificate (PEM), or "" when TLS is off.
func (c *Cluster) CAFile() string {
	if c.tls == nil {
		return ""
	}
	return c.tls.caFile
}

// Options returns the options the cluster was started with, defaults applied (Replicas is 0, not
// NoReplicas, for a cluster without replicas).
func (c *Cluster) Options() Options { return c.opts }
