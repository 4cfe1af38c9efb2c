package dispatcher

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/slotmap"
)

// gate holds the slots a new map gave another master, until what was sent to their old master
// has come back: the commands its node gives back when it leaves the map (a failover), or those
// it answers MOVED (a migration's end, a graceful failover). Sent at once to the new master, the
// slot's new commands would overtake them: in a review 2–52 of a pipeline's RPUSHes ran ahead of
// one sent before them across a failover, 1–14 across a slot's move.
//
// A PING sent to the old master's node after them, the gate's barrier, tells when they have:
// the node answers in order and gives its queue back in order, and the barrier's completion (see
// barrier) comes after. Until then, or gateFor at most, a command for a held slot waits in the
// slot's queue (see retryQueue): those coming back first, then the new ones.
type gate struct {
	from  string
	slots []int
	until time.Time
	why   error
	timer *time.Timer
}

// gateFor bounds a gate's wait: a frozen old master answers no barrier.
const gateFor = 200 * time.Millisecond

// gateOpen opens a gate: its barrier completed, or gateFor passed.
type gateOpen struct{ g *gate }

// barrier hears of a gate's PING (see signal): its completion, by a reply or an error, opens the
// gate.
type barrier struct {
	ownsNothing
	g    *gate
	root *actor.RootContext
	pid  *actor.PID
}

func (b *barrier) Completed(error) { b.root.Send(b.pid, &gateOpen{g: b.g}) }

// barrier returns g's PING, which tells the dispatcher at pid when it has come back.
func (g *gate) barrier(root *actor.RootContext, pid *actor.PID) *node.Request {
	return signal(&barrier{g: g, root: root, pid: pid}, g.until, "PING")
}

// gateMoves closes a gate for the slots s gives another master than old did, one per old master.
// A slot whose retries wait in a queue (TRYAGAIN: a map ends the others' at once) has the gate
// put on that queue, which then holds the slot's new commands too, until the gate opens. (Left
// alone, a queue of MGETs meeting TRYAGAIN let a pipeline of one key through at a migration's
// end, the new ones straight to the new master: up to 7511 of 20,000 out of place in a review.)
func (a *dispatcherActor) gateMoves(ctx actor.Context, old, s *slotmap.Snapshot) {
	if old == nil || a.stopping {
		return
	}
	var gates map[string]*gate
	var nodes map[string]*node.Node
	for slot := range slotmap.NumSlots {
		was, is := old.Master(slot), s.Master(slot)
		if was == nil || is == nil || was.Addr == is.Addr {
			continue
		}
		g := gates[was.Addr]
		if g == nil {
			if gates == nil {
				gates, nodes = map[string]*gate{}, map[string]*node.Node{}
			}
			g = &gate{from: was.Addr, until: time.Now().Add(gateFor),
				why: fmt.Errorf("its master changed from %s; waited for the commands sent there", was.Addr)}
			gates[was.Addr], nodes[was.Addr] = g, was.Node
		}
		g.slots = append(g.slots, slot)
	}
	root, pid := a.h.sys.Root(), a.h.pid
	for addr, g := range gates {
		if a.gated == nil {
			a.gated, a.gates = map[int]*gate{}, map[*gate]struct{}{}
		}
		for _, slot := range g.slots {
			q := a.held[slot]
			switch {
			case q == nil:
				a.gated[slot] = g
			case q.gate == nil:
				q.gate, q.holdsNew, q.at = g, true, later(q.at, g.until)
			}
		}
		a.gates[g] = struct{}{}
		g.timer = time.AfterFunc(gateFor, func() { root.Send(pid, &gateOpen{g: g}) })
		ctx.Send(nodes[addr].PID(), g.barrier(root, pid))
	}
}

// later returns the later of t and u.
func later(t, u time.Time) time.Time {
	if t.After(u) {
		return t
	}
	return u
}

// gateQueue starts the queue of a slot held by g, for the first command that meets it.
func (a *dispatcherActor) gateQueue(slot int, g *gate) *retryQueue {
	q := &retryQueue{slot: slot, gate: g, at: g.until, fire: g.until, last: g.why, holdsNew: true}
	a.keep(q)
	return q
}

// openGate routes the commands held by g, in order. A queue whose timer has fired is left to its
// retryNow, which routes it now that its time has come.
func (a *dispatcherActor) openGate(ctx actor.Context, g *gate) {
	if _, ok := a.gates[g]; !ok {
		return // opened already
	}
	delete(a.gates, g)
	g.timer.Stop()
	for _, slot := range g.slots {
		if a.gated[slot] == g {
			delete(a.gated, slot)
		}
		q := a.held[slot]
		if q == nil || q.gate != g {
			continue
		}
		q.at, q.probe = time.Time{}, passed // a probe out still is no longer waited for
		a.routeNow(ctx, q)
	}
}

// openGates opens every gate: the actor is stopping (what they hold is sent, as what is sent
// before Close is) or restarting (its next instance does not know them).
func (a *dispatcherActor) openGates(ctx actor.Context) {
	for g := range a.gates {
		a.openGate(ctx, g)
	}
}

// closeGates stops every gate's timer: the actor is stopping, and gives up what is left.
func (a *dispatcherActor) closeGates() {
	for g := range a.gates {
		g.timer.Stop()
	}
	clear(a.gates)
	clear(a.gated)
}
