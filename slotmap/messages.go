package slotmap

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/node"
)

// Subscribe asks for every Snapshot, starting with the current one.
type Subscribe struct{ PID *actor.PID }

// Moved reports a MOVED reply: slot now lives at Addr (as announced; the map applies AddressMap).
// When Req is set, the slot map sends it back to Back once the patched Snapshot has been
// published, so Back routes it with a map that knows the new owner.
type Moved struct {
	Slot int
	Addr string
	Req  *node.Request
	Back *actor.PID
}

// Resolve asks for the node reached at Addr (as announced), starting it if the map does not know
// it (an ASK to a node outside the topology). The request is sent back to Back in a Reroute
// naming the node, after a Snapshot that holds it when the map has a topology.
type Resolve struct {
	Addr string
	Req  *node.Request
	Back *actor.PID
}

// Asked says an ASK named the node at Addr (as reached) again, one the dispatcher's snapshot lists
// outside the topology (Snapshot.Outside): the map keeps it open for Options.AskedHold from now.
// Without it only an ASK the map resolves would, and a migration's target would be closed by a
// topology that does not list it yet, AskedHold after the first ASK, with ASKs still naming it.
type Asked struct{ Addr string }

// learn asks for the node reached at Addr (as announced), starting it if the map does not know
// it, as Resolve does; its Ref is sent on Reply (buffered) once a Snapshot contains it. The node
// stays open, whatever topology comes, until an unlearn of its address.
type learn struct {
	Addr  string
	ID    uint64 // the lease's, unique to the map
	Reply chan *Ref
}

// unlearn ends the lease of the learn with ID.
type unlearn struct{ ID uint64 }

// Reroute carries a request back to its dispatcher after a Moved or Resolve. After a Resolve, Node
// is the node the ASK named, which the request goes to (ASKING set): the dispatcher's snapshot may
// not hold it (a slot map restarted, with no topology yet, publishes none).
type Reroute struct {
	Req  *node.Request
	Node *node.Node
}

// Fail fails the request a Moved, Resolve or Reroute carries when the message cannot be delivered
// (its receiver stopped): nobody else holds the request then. The Future is failed directly, not
// through its Owner, which would only send it back to a stopped actor.
func (m *Moved) Fail(err error) { failCarried(m.Req, err) }

// Fail: see Moved.Fail.
func (m *Resolve) Fail(err error) { failCarried(m.Req, err) }

// Fail: see Moved.Fail.
func (m *Reroute) Fail(err error) { failCarried(m.Req, err) }

func failCarried(r *node.Request, err error) {
	if r != nil {
		r.Future.Fail(err)
	}
}

// Refresh asks for a topology refresh (coalesced with one already under way).
type Refresh struct{}

// discovered is the result of a discovery goroutine.
type discovered struct {
	shards []Shard
	from   string
	err    error
	// unconfirmed: shards cover fewer slots than the map wanted, and the other candidates failed
	// to answer in time (see discover); failures says how.
	unconfirmed bool
	failures    *RootsError
}

// nodeEvent relays a node actor's connection event to the slot map.
type nodeEvent struct {
	e   node.Event
	tag *nodeTag // of the node actor that sent it
}

// nodeStall is a node actor's word that its connection's oldest reply is overdue (node.Options.OnStall),
// or no longer.
type nodeStall struct {
	addr    string
	stalled bool
	tag     *nodeTag
}

// nodeTag tells the node actors started at one address apart.
type nodeTag struct{ _ byte }

// tick drives periodic refreshes and the unreachable-node check.
type tick struct{}

// refreshNow ends the debounce of a MOVED burst.
type refreshNow struct{}
