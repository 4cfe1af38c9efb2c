// Package integration will hold tests against real Redis Clusters spawned by internal/testcluster:
// failover, resharding and fault injection.
//
// It is empty until the Cluster core issue lands; nothing here works yet.
package integration
