package slotmap

import "github.com/asynkron/protoactor-go/actor"

// Nodes outside the topology asked for by address (an ASK's Resolve, Map.Learn): the map starts
// their node actors, and keeps those a Learn leases open, whatever topology comes, until released.

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
	if !a.leased(addr) && a.nodes[addr] != nil && (a.snap == nil || a.snap.byAddr[addr] == nil) {
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
