package testcluster_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A program (a runnable example or a benchmark driver) starts a cluster with Start and stops it itself.
// Not run by go test: it needs redis-server and prints addresses that change every run.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.Options{Masters: 3, Replicas: 1})
	if err != nil {
		log.Fatal(err) // names scripts/install-redis.sh when redis-server is missing
	}
	defer c.Stop()

	fmt.Println("seeds:", c.Addrs())
	slot, err := c.Nodes()[0].Do(ctx, "CLUSTER", "KEYSLOT", "user:{42}")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("owner of", slot, "is", c.MasterFor(int(slot.(int64))).Addr())
}

// A failover drill: kill the master of slot 0, wait for its replica to take over, bring the old master
// back as a replica.
func ExampleCluster_WaitForFailover() {
	ctx := context.Background()
	c, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop()

	old := c.MasterFor(0)
	if err := c.Kill(old); err != nil {
		log.Fatal(err)
	}
	promoted, err := c.WaitForFailover(ctx, old)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Restart(ctx, old); err != nil {
		log.Fatal(err)
	}
	fmt.Println(promoted.Addr(), "took over;", old.Addr(), "is now a", old.Role())
}
