package testcluster

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// Redis lets a new master report cluster_state:ok no sooner than 2 s after it started
// (CLUSTER_WRITABLE_DELAY), which is most of a cluster's start. Under Main, a package's clusters take
// their servers from a pool of servers started ahead, past that delay by the time a cluster takes them,
// and each cluster, once formed, starts replacements for what it took in the background. A 3×1 or 3×0 cluster formed from them in
// 0.6–0.8 s, measured, against 2.1–2.2 s from new servers.
//
// Only clusters whose servers' config is the default one take from the pool: no TLS, no password, no
// announced hostname, no ExtraConfig, the default NodeTimeout. Users are created when a server is
// taken. A pooled server's directory is its own, not under its cluster's; the cluster removes it at
// Stop.

// maxPooled bounds how many servers the pool keeps started.
const maxPooled = 12

// TestingM is what Main wraps: *testing.M, or goleak.VerifyTestMain's argument.
type TestingM interface{ Run() int }

// Main returns m with the pool of servers started ahead on while its tests run, and stopped, every
// server shut down and every goroutine ended, before its Run returns. A package's TestMain uses it as
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(testcluster.Main(m)) }
//
// Without it (a program, or a package whose TestMain does not call it) every cluster starts its own
// servers.
func Main(m TestingM) TestingM { return pooledMain{m} }

type pooledMain struct{ m TestingM }

func (p pooledMain) Run() int {
	warm := newPool()
	poolMu.Lock()
	thePool = warm
	poolMu.Unlock()
	defer func() {
		poolMu.Lock()
		thePool = nil
		poolMu.Unlock()
		warm.close()
	}()
	return p.m.Run()
}

var (
	poolMu  sync.Mutex
	thePool *pool // nil outside Main
)

// pool holds servers started ahead with the default cluster config.
type pool struct {
	ctx    context.Context // ends at close, cutting starts short
	cancel context.CancelFunc
	wg     sync.WaitGroup // the starts under way

	mu       sync.Mutex
	dir      string  // holds every pooled server's directory; made at the first start
	bin      string  // the binary the pooled servers run
	gen      int     // counts the changes of bin
	idle     []*Node // started and untaken, oldest first
	starting int     // starts of bin under way
	target   int     // how many to keep started: twice the largest take so far, at most maxPooled
	closed   bool
}

func newPool() *pool {
	p := &pool{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// pooledFor returns the pool when opts can take from it, else nil.
func pooledFor(opts Options) *pool {
	if opts.TLS || opts.Password != "" || opts.AnnounceHostname != nil || len(opts.ExtraConfig) > 0 ||
		opts.NodeTimeout != DefaultNodeTimeout {
		return nil
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	return thePool
}

// take returns up to k running servers of bin, oldest first. Call refill once the cluster that
// took them has formed (or failed to): replacements started at once would slow its formation.
func (p *pool) take(k int, bin string) []*Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if p.bin != bin {
		// A test changed $REDIS_SERVER: the servers started so far run another binary, and the
		// starts under way are discarded as they end (startOne).
		p.discardLocked(p.idle)
		p.idle, p.bin, p.starting = nil, bin, 0
		p.gen++
	}
	var got, dead []*Node
	for len(p.idle) > 0 && len(got) < k {
		n := p.idle[0]
		p.idle = p.idle[1:]
		if n.Running() {
			got = append(got, n)
		} else {
			dead = append(dead, n)
		}
	}
	p.discardLocked(dead)
	p.target = min(max(p.target, 2*k), maxPooled)
	return got
}

// refill starts servers in the background until the pool holds its target, started or starting.
func (p *pool) refill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed && len(p.idle)+p.starting < p.target {
		p.starting++
		p.wg.Add(1)
		go p.startOne(p.bin, p.gen)
	}
}

// startOne starts a server of bin, the pool's binary at generation gen.
func (p *pool) startOne(bin string, gen int) {
	defer p.wg.Done()
	n, err := p.newNode(bin)
	if err == nil {
		ctx, cancel := context.WithTimeout(p.ctx, defaultStartTimeout)
		err = n.start(ctx, true)
		cancel()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen {
		p.discardLocked([]*Node{n}) // not counted in starting any more (take)
		return
	}
	p.starting--
	if err != nil || p.closed {
		// A start that failed leaves the next cluster to start its own server, whose error names it.
		p.discardLocked([]*Node{n})
		return
	}
	p.idle = append(p.idle, n)
}

// newNode makes a node with its own directory in the pool's.
func (p *pool) newNode(bin string) (*Node, error) {
	p.mu.Lock()
	if p.dir == "" {
		dir, err := makeDir("testcluster-pool-")
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("testcluster: %w", err)
		}
		p.dir = dir
	}
	parent := p.dir
	p.mu.Unlock()
	dir, err := os.MkdirTemp(parent, "node")
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	opts, _ := Options{}.withDefaults()
	n := &Node{dir: dir, bin: bin, pooled: true}
	n.conf = serverConfig{dir: dir, cluster: true, opts: opts}
	return n, nil
}

// discardLocked stops nodes and removes their directories, in the background; close waits for it.
func (p *pool) discardLocked(nodes []*Node) {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			n.stop()
			_ = os.RemoveAll(n.dir)
		}()
	}
}

// close stops the starts under way and every untaken server, and removes the pool's directory. Servers
// taken by clusters are theirs to stop.
func (p *pool) close() {
	p.cancel()
	p.mu.Lock()
	p.closed = true
	p.discardLocked(p.idle)
	p.idle = nil
	p.mu.Unlock()
	p.wg.Wait()
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}

// A master that served no slot has been "among the minority" of its cluster, and Redis lets it report
// cluster_state:ok only cluster-node-timeout after it last was (at least 500 ms): from warm servers,
// that wait is the rest of a cluster's start. Warm servers form the cluster with the least timeout
// that counts, 500 ms, and without failovers, which so short a timeout could start on a busy machine;
// once it is ready they get the cluster's own settings.
var (
	formingConfig = []string{"cluster-node-timeout", "500", "cluster-replica-no-failover", "yes"}
	formedConfig  = []string{"cluster-replica-no-failover", "no"} // the timeout is added by formed
)

// takeWarm readies a server taken from the pool for formation, creating the cluster's users.
func (n *Node) takeWarm(ctx context.Context) error {
	if _, err := n.Do(ctx, append([]string{"CONFIG", "SET"}, formingConfig...)...); err != nil {
		return err
	}
	return n.applyUsers(ctx)
}

// formed gives the servers taken from the pool the cluster's own settings.
func (c *Cluster) formed(ctx context.Context) error {
	args := append([]string{"CONFIG", "SET", "cluster-node-timeout",
		strconv.FormatInt(c.opts.NodeTimeout.Milliseconds(), 10)}, formedConfig...)
	for _, n := range c.nodes {
		if n.pooled {
			if _, err := n.Do(ctx, args...); err != nil {
				return err
			}
		}
	}
	return nil
}
