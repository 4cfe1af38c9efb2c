// Package slotmap is the slot-map actor: it knows which node serves each of the 16384 hash slots.
//
// It discovers the topology from the root nodes (CLUSTER SHARDS, falling back to CLUSTER SLOTS),
// starts a node actor for every server it finds and stops those of servers that left, and publishes
// the topology as an immutable *Snapshot message to its subscribers (the dispatchers). A MOVED
// reported by a dispatcher patches that slot at once and schedules one coalesced refresh for the
// whole burst; the map is also refreshed periodically and while a node stays unreachable.
//
// Addresses go through Options.AddressMap everywhere — topology, MOVED and ASK targets — so nodes
// that announce names the client cannot resolve are reached at the addresses the map gives.
package slotmap
