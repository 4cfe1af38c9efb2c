// Package integration is the fault-injection suite: each test runs a load of concurrent workers
// doing SET and GET on known keys against a real Redis Cluster (internal/testcluster), injects a
// fault — live resharding, a killed master, a context storm, Close in the middle — and checks that
// every command completed, that errors reaching callers are the ones the fault explains, and that
// every acknowledged write can be read back (or is counted as lost to Redis' asynchronous
// replication, never hidden). docs/RELIABILITY.md has the figures of a run.
package integration
