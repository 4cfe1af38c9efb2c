// Package dispatcher will hold the routing actor: it finds each command's key slot and node, follows
// MOVED and ASK up to a cap, and retries TRYAGAIN, CLUSTERDOWN and LOADING with bounded backoff.
//
// It is empty until the Cluster core issue lands; nothing here works yet.
package dispatcher
