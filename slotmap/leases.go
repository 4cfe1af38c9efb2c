package slotmap

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Nodes outside the topology asked for by address (an ASK's Resolve, Map.Learn): the map starts
// their node actors, and keeps those a Learn leases open, whatever topology comes, until released;
// those an ASK named, for Options.AskedHold after the last ASK that did.
//
// An ASK's hold is for a migration's target the topology does not list yet (a master with no slot,
// in CLUSTER SLOTS). Closed by the next topology, it failed the commands queued at it while it
// connected, which met the ASK again, and so on until their deadline. Every ASK naming it renews
// the hold: one the map resolves (the node outside the dispatchers' snapshot: each new topology
// takes it out), and one a dispatcher sends it straight (Asked).

// resolve returns the Ref for the address an ASK named (see known), and keeps its node open for
// AskedHold from now.
func (a *mapActor) resolve(ctx actor.Context, announced string) *Ref {
	ref := a.known(ctx, announced)
	a.hold(ref.Addr)
	return ref
}

// asked renews the hold of the node at addr (as reached), when the map's snapshot lists it outside
// the topology, as the dispatcher's did when it sent Asked: one a newer topology dropped since is
// not reopened, and a node of the topology is not held past it.
func (a *mapActor) asked(addr string) {
	if a.snap != nil && a.snap.Outside(addr) && a.nodes[addr] != nil {
		a.hold(addr)
	}
}

// hold keeps the node at addr open for AskedHold from now.
func (a *mapActor) hold(addr string) {
	if a.resolved == nil {
		a.resolved = map[string]time.Time{}
	}
	a.resolved[addr] = time.Now()
}

// known returns the Ref for an announced address, publishing a Snapshot that holds it if the
// current one does not.
func (a *mapActor) known(ctx actor.Context, announced string) *Ref {
	ref := a.ref(announced)
	if a.snap != nil && a.snap.byAddr[ref.Addr] == nil {
		a.publish(ctx, a.snap.withNode(ref))
	}
	return ref
}

// release ends the lease id (one this instance does not know does nothing); its node, if no
// other lease nor the topology holds it, stops.
func (a *mapActor) release(id uint64) {
	addr, ok := a.leases[id]
	if !ok {
		return
	}
	delete(a.leases, id)
	if !a.held(addr, time.Now()) && a.nodes[addr] != nil && (a.snap == nil || a.snap.byAddr[addr] == nil) {
		a.dropNode(addr)
	}
}

// leased reports whether a lease holds the node at addr open.
func (a *mapActor) leased(addr string) bool {
	for _, held := range a.leases {
		if held == addr {
			return true
		}
	}
	return false
}

// held reports whether a lease, or an ASK within AskedHold of now, holds the node at addr open,
// forgetting an ASK's hold that has run out or whose node is down. An ASK does not hold a node that
// is down: one the client cannot reach (a wrong NodeAddressMap, a node since removed) would be
// dialled, and the cluster discovered again, for that long.
func (a *mapActor) held(addr string, now time.Time) bool {
	if at, ok := a.resolved[addr]; ok {
		if _, down := a.down[addr]; !down && now.Sub(at) < a.opts.AskedHold {
			return true
		}
		delete(a.resolved, addr)
	}
	return a.leased(addr)
}
