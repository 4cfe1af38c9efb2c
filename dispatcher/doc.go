// Package dispatcher is the routing actor of the cluster client.
//
// It holds its own copy of the topology (immutable snapshots sent by the slot map), finds each
// command's keys (from a key-position table: built in, completed by the server's COMMAND reply),
// checks that they share one slot (a CROSSSLOT error otherwise, before anything is sent), and sends
// the command to the node actor serving that slot: the master, or round-robin over the master and
// its replicas for read-only commands when UseReplicas is set. Keyless commands go to a random
// master with a connection up; PUBLISH goes to its channel's master, as if the channel were a key,
// so that one publisher's messages to a channel keep their order (once that master is down — a dial
// failed since the connection was lost, or half a second passed — to another node: any takes a
// PUBLISH). A keyless command waiting at a node whose dial fails is given back and sent elsewhere.
//
// A request its sender knows to be alone (Handle.SendAlone, used by a caller alone in api Do) is
// routed on the sender's goroutine when the dispatcher is idle, and then written there by its node
// when that is idle too (see actors.Lender and node.Node.TryRun).
//
// Nodes give requests back (see node.Owner) with MOVED — routed to the new owner and reported to
// the slot map —, ASK — sent with ASKING to the target, the map unchanged —, TRYAGAIN, CLUSTERDOWN,
// LOADING or MASTERDOWN — retried after 10 ms doubling to 1 s, with jitter, within the command's
// deadline —, and connection failures, retried when the command was never written or is read-only
// or marked idempotent. Past MaxRedirections hops a command fails with ErrMaxRedirections.
//
// The retries of a slot wait in one queue, in the order they came back, and go out together in
// that order (every 240 ms at most, or at once when a new map may change things); while they wait,
// the slot's new requests wait behind them, unless the queue waits out only TRYAGAIN (see
// retryQueue). A queue a server refused for a state of its own (CLUSTERDOWN, LOADING) goes once
// the slot's master has answered a write of nothing to a key of the slot, a probe that the queues
// of that master share (see probeFirst): a server whose state changes while it reads a round would
// split it. A map that gives a slot another master
// holds the slot's new requests until a PING sent to the old master after what it had has come
// back, 200 ms at most (see gate). One caller's pipeline to a key thus keeps its order across
// CLUSTERDOWN, LOADING, a failover and a slot's move.
package dispatcher
