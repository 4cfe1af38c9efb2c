// Package testcluster starts real redis-server processes for tests, runnable examples and benchmarks:
// a Redis Cluster of N masters × R replicas (Start, New) or a single non-cluster server
// (StartStandalone, NewStandalone).
//
// Every server listens on free loopback ports (127.0.0.1 only, the cluster bus port chosen explicitly),
// which no other test binary of the machine is handed while the server may use them, restarts included
// (on Linux, a lock per port on a file in the temporary directory). It runs in its own temporary
// directory without persistence, and is killed with SIGKILL if the process that started it dies
// (Linux). The cluster is formed directly with CLUSTER ADDSLOTSRANGE, CLUSTER MEET
// and CLUSTER REPLICATE, and Start returns only once every node reports cluster_state:ok, all nodes agree
// on the same slot map and every replica has finished its first sync. A 3×1 cluster is typically ready in
// about two seconds, most of it Redis's own wait before a new master may report cluster_state:ok. Under
// Main, clusters with the default server config take servers started ahead, past that wait, from a pool,
// and are ready in well under a second:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(testcluster.Main(m)) }
//
// The binary is $REDIS_SERVER when set, else redis-server on PATH; Redis 7.0 or newer is required. When
// it is missing, Start returns an error wrapping ErrRedisNotFound that names scripts/install-redis.sh,
// and New fails the test: the harness never skips.
//
// The package talks to the servers through its own tiny RESP2 client (Node.Do), deliberately independent
// of the repository's resp package, so that it can serve as the oracle for the codec's tests.
//
// Helpers reproduce what a cluster client has to survive: Kill and Restart a node, WaitForFailover after a
// master was killed, Failover (a manual CLUSTER FAILOVER), MigrateSlot (or BeginMigration and
// FinishMigration to leave a slot mid-migration), and options for TLS, a password, ACL users and announced
// hostnames.
//
// In a test:
//
//	c := testcluster.New(t, testcluster.Options{}) // 3 masters × 1 replica, stopped by t.Cleanup
//	seeds := c.Addrs()
//
// In a program:
//
//	c, err := testcluster.Start(ctx, testcluster.Options{Masters: 3, Replicas: 1})
//	if err != nil { ... }
//	defer c.Stop()
//
// Stop shuts every server down, reaps it and removes its directory; no goroutine of the package
// outlives it.
package testcluster
