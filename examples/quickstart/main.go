// Command quickstart is node-redis's clustering example in Go: connect to a Redis Cluster through a
// few root nodes, SET and GET a key, then keep 10,000 commands in flight at once.
//
//	go run ./examples/quickstart                                    # spawns a local 3×1 cluster
//	REDIS_CLUSTER_URL=redis://127.0.0.1:30001 go run ./examples/quickstart
//
// With no REDIS_CLUSTER_URL it starts a local cluster of real redis-server processes (needs
// redis-server: scripts/install-redis.sh) and stops it on exit.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// keep is how long the keys the demo writes live.
const keep = 10 * time.Minute

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	roots, cleanup, err := rootNodes(ctx)
	if err != nil {
		return err
	}
	defer cleanup()

	// A hook told of every command as it completes: here, a histogram of their latencies.
	var lat latencies
	cluster, err := api.CreateCluster(api.ClusterOptions{RootNodes: roots, Hooks: api.Hooks{CommandDone: lat.observe}})
	if err != nil {
		return err
	}
	cluster.OnError(func(err error) { fmt.Fprintln(os.Stderr, "cluster error:", err) })
	if err := cluster.Connect(ctx); err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Printf("connected: %d masters, %d replicas\n", len(cluster.Masters()), len(cluster.Replicas()))

	// Every key the demo writes expires in 10 minutes: pointed at a cluster of yours, it leaves
	// nothing behind for good.
	if err := cluster.Set(ctx, "key", "value", api.EX(keep)); err != nil {
		return err
	}
	value, err := cluster.Get(ctx, "key")
	if err != nil {
		return err
	}
	fmt.Printf("GET key -> %q (slot %d, on %s)\n", value, api.GetSlot("key"), cluster.NodeForKey("key").Addr())

	_, err = cluster.Get(ctx, "no-such-key")
	fmt.Printf("GET no-such-key -> api.Nil: %t\n", errors.Is(err, api.Nil))

	// 10,000 commands in flight at once: send them all, then await them all.
	const n = 10_000
	lat.reset()
	start := time.Now()
	futures := make([]*api.Future, n)
	for i := range futures {
		futures[i] = cluster.Send(api.Cmd("SET", "quickstart:"+strconv.Itoa(i), i, "EX", int(keep.Seconds())))
	}
	for i, f := range futures {
		if _, err := f.Await(); err != nil {
			return fmt.Errorf("SET quickstart:%d: %w", i, err)
		}
	}
	for i := range futures {
		futures[i] = cluster.Send(api.Cmd("GET", "quickstart:"+strconv.Itoa(i)))
	}
	for i, f := range futures {
		v, err := f.Await()
		if err != nil {
			return fmt.Errorf("GET quickstart:%d: %w", i, err)
		}
		if v.String() != strconv.Itoa(i) {
			return fmt.Errorf("GET quickstart:%d returned %q", i, v.String())
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("%d SET + %d GET, 10,000 in flight at a time: %s (%.0f commands/s), every value checked\n",
		n, n, elapsed.Round(time.Millisecond), 2*n/elapsed.Seconds())
	p50, counted := lat.below(0.5)
	p99, _ := lat.below(0.99)
	fmt.Printf("their latency, by Hooks.CommandDone: %d commands, half under %s, 99%% under %s, %d failed\n",
		counted, p50, p99, lat.failed.Load())

	start, found := time.Now(), 0
	for _, err := range cluster.Scan(ctx, api.ScanOptions{Match: "quickstart:*", Count: 1000}) {
		if err != nil {
			return err
		}
		found++
	}
	if found < n {
		return fmt.Errorf("SCAN found %d keys matching quickstart:*, not the %d set", found, n)
	}
	fmt.Printf("SCAN of every master: %d keys match quickstart:* (%s)\n", found, time.Since(start).Round(time.Millisecond))

	// Each node's counters: how many commands each write to its socket carried, on average.
	for _, m := range cluster.Masters() {
		s := m.Stats()
		fmt.Printf("%s: %d commands in %d writes (%.1f per write), %d connection(s) made\n",
			m.Addr(), s.Commands, s.Writes, float64(s.Commands)/float64(max(s.Writes, 1)), s.Connects)
	}
	return nil
}

// rootNodes returns the root nodes from REDIS_CLUSTER_URL (comma-separated URLs), or starts a local
// 3×1 cluster and returns its first two nodes.
func rootNodes(ctx context.Context) ([]api.NodeOptions, func(), error) {
	if env := os.Getenv("REDIS_CLUSTER_URL"); env != "" {
		var roots []api.NodeOptions
		for _, u := range strings.Split(env, ",") {
			roots = append(roots, api.NodeOptions{URL: strings.TrimSpace(u)})
		}
		return roots, func() {}, nil
	}
	fmt.Println("REDIS_CLUSTER_URL is not set: starting a local 3×1 cluster...")
	start := time.Now()
	local, err := testcluster.Start(ctx, testcluster.Options{Masters: 3, Replicas: 1})
	if err != nil {
		return nil, nil, err
	}
	fmt.Printf("local cluster ready in %s: %s\n", time.Since(start).Round(time.Millisecond), strings.Join(local.Addrs(), " "))
	addrs := local.Addrs()
	return []api.NodeOptions{{URL: "redis://" + addrs[0]}, {URL: "redis://" + addrs[1]}},
		func() { _ = local.Stop() }, nil
}
