// Package slotmap will hold the slot-map actor: key slots (CRC16 with hash tags), topology discovery
// through CLUSTER SHARDS (falling back to CLUSTER SLOTS), coalesced refreshes on MOVED, periodic
// refreshes, and immutable topology snapshots published as messages.
//
// It is empty until the Cluster core issue lands; nothing here works yet.
package slotmap
