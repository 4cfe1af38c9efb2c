// Package api will be the only package users import: CreateCluster, ClusterOptions, Cluster, Future,
// Command, typed helpers, errors and events.
//
// It is empty until the Cluster core issue lands; nothing here works yet.
package api
