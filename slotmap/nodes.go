package slotmap

import (
	"time"

	"github.com/actoredis/actoredis/node"
)

// The node actors the map starts for the servers it knows, their connections' READONLY or
// READWRITE by role, and their close once their server has left.

// dropNode stops the node actor at addr, which has left the topology.
func (a *mapActor) dropNode(addr string) {
	n := a.nodes[addr]
	delete(a.nodes, addr)
	delete(a.tags, addr)
	delete(a.down, addr)
	delete(a.stalled, addr)
	a.leaving = append(a.leaving, n)
}

// closeLeaving closes the nodes dropped while handling a message, once it is handled: after the
// map without them went out to the dispatchers, which then route by it what the nodes' close
// gives back (in the order the nodes had queued it: a close that came first made them wait for
// that map, each in a backoff of its own, and reordered one caller's pipeline to a key).
func (a *mapActor) closeLeaving() {
	for _, n := range a.leaving {
		a.closeNode(n)
	}
	clear(a.leaving)
	a.leaving = a.leaving[:0]
}

// nodeAt returns the node actor for addr, starting it when there is none: a master's connection
// READWRITE from its handshake on (see readOnlyByRole), a replica's as Options.Node says.
func (a *mapActor) nodeAt(addr string, master bool) *node.Node {
	if n := a.nodes[addr]; n != nil {
		return n
	}
	o := a.opts.Node
	o.Addr = addr
	o.MapAddr, o.KeySlot = a.opts.mapAddr, Slot
	o.ReadOnly = o.ReadOnly && !master
	self, root := a.self, a.sys.Root()
	tag := &nodeTag{}
	o.OnEvent = func(e node.Event) { root.Send(self, &nodeEvent{e: e, tag: tag}) }
	o.OnStall = func(stalled bool) { root.Send(self, &nodeStall{addr: addr, stalled: stalled, tag: tag}) }
	n, err := node.Start(a.sys, o)
	if err != nil {
		panic("slot map: starting a node actor: " + err.Error()) // only fails on an empty address
	}
	a.nodes[addr] = n
	if a.tags == nil {
		a.tags = map[string]*nodeTag{}
	}
	a.tags[addr] = tag
	return n
}

// closeNode closes a node that left the cluster, in the background: its queued commands fail
// back to their dispatcher, which routes them by the new map.
func (a *mapActor) closeNode(n *node.Node) {
	a.shared.wg.Add(1)
	go func() {
		defer a.shared.wg.Done()
		_ = n.Close(time.Second)
	}()
}

// readOnlyByRole makes the connections of s's replicas READONLY and those of its masters
// READWRITE, when the client reads from replicas (Options.Node.ReadOnly): a master demoted by a
// failover that s has not seen then answers a read with MOVED, which tells the map, where with
// READONLY it would serve it as a replica, unchecked (a manual failover, with no node failing,
// leaves nothing else to tell it until the next periodic refresh).
func (a *mapActor) readOnlyByRole(s *Snapshot) {
	if !a.opts.Node.ReadOnly {
		return
	}
	masters := map[string]bool{}
	for _, m := range s.Masters() { // those serving no slot too
		masters[m.Addr] = true
	}
	for addr, ref := range s.byAddr {
		ref.Node.SetReadOnly(!masters[addr])
	}
}
