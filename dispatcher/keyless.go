package dispatcher

import (
	"math/rand/v2"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/slotmap"
)

// Routing of the commands without keys: any node takes them, and PUBLISH goes to its channel's
// master.

// keyless picks a node for a command without keys: a random master with a connection up (any,
// when none has), or for PUBLISH see publishTo. Any node takes such a command: the node it waits
// at for a connection gives it back once a dial fails (node.Request.Anywhere).
func (a *dispatcherActor) keyless(name string, args []any) *slotmap.Ref {
	if name == "PUBLISH" && len(args) > 1 {
		if to := a.publishTo(keySlot(args[1])); to != nil {
			return to
		}
	}
	if to := a.connectedMaster(); to != nil {
		return to
	}
	if len(a.snap.Shards) == 0 {
		return nil
	}
	return a.snap.Shards[rand.IntN(len(a.snap.Shards))].Master
}

// connectedMaster returns a master with a connection up, from a random one on; nil when none has.
func (a *dispatcherActor) connectedMaster() *slotmap.Ref {
	n := len(a.snap.Shards)
	if n == 0 {
		return nil
	}
	from := rand.IntN(n)
	for i := range n {
		if m := a.snap.Shards[(from+i)%n].Master; m.Node.Connected() {
			return m
		}
	}
	return nil
}

// publishPatience is how long PUBLISH keeps going to its channel's master once the client has lost
// its connection to it, while the dial after has not failed (node.Node.DownFor): a connection
// lost is most often one the server or a proxy closed, and the node dials again at once. The
// PUBLISHes wait at the node meanwhile, in order (the node gives them back past that long too).
// Sent through another node, they would reach the subscribers out of order with those before
// them: each node passes its messages on over its own links of the cluster bus, and Redis keeps
// no order between two nodes' messages.
const publishPatience = node.AnywherePatience

// publishTo picks the node for a PUBLISH to a channel of slot (hashed as a key): the slot's master,
// so that one publisher's messages to a channel all pass through one node, which sends them on to
// the others over the cluster bus in order (spread over random nodes, a lone publisher awaiting
// each PUBLISH had 1557 of 3000 messages arrive out of order). Any node takes a PUBLISH: once that
// master is down (a dial failed since the client lost its connection to it, or publishPatience
// has passed), one of its replicas, or another master, that has a connection up; nil when none
// has, for a random master. The channel is no key: in a unit (MULTI ... EXEC) it does not route,
// and the server checks no slot of it.
func (a *dispatcherActor) publishTo(slot int) *slotmap.Ref {
	if shard := a.snap.Shard(slot); shard != nil {
		if shard.Master.Node.DownFor(time.Now()) < publishPatience {
			return shard.Master
		}
		for _, ref := range shard.Replicas {
			if ref.Node.Connected() {
				return ref
			}
		}
	}
	return a.connectedMaster()
}
