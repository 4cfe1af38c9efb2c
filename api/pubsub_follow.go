package api

import (
	"fmt"
	"time"
)

// follow moves the shard channels whose slot the map shows served by another master than the
// node their connection reaches. A slot that moves away is mostly followed as the server
// unsubscribes its channels (sunsubscribe), but not always to the right place: after a manual
// failover the demoted master unsubscribes them, and the map may still name it when they are
// subscribed again; it accepts them as a replica, and stops delivering them if it later
// replicates another master. Such a connection is dropped, as a lost one is (lose): closing it
// unsubscribes all it carries at once (an SUNSUBSCRIBE of channels in several slots would be
// refused), and its channels are subscribed again where the map says.
func (r *subRun) follow() {
	snap := r.rt.smap.Snapshot()
	if snap == nil || snap == r.seen {
		return
	}
	r.seen = snap
	for addr, l := range r.links {
		for n := range l.names {
			if m := snap.Master(GetSlot(n)); m != nil && m.Addr != addr {
				r.lose(l, fmt.Errorf("actoredis: node %s: %s %q: the map shows its slot on %s now", addr, r.cmd, n, m.Addr))
				break
			}
		}
	}
	r.placeWith(snap)
}

// moved is a shard channel its node unsubscribed, while the map places it there still: that node,
// and when lookAgain asks the map again, how many times it has.
type moved struct {
	from  string
	at    time.Time
	looks int
}

// lookAgain asks the map again while a shard channel its node unsubscribed is, by the map, still
// served there: lookAgainAfter after the unsubscription, then twice as long after each look, at
// most maxLooks times (then the periodic refresh is left to see it), at the tick nearest each time.
// The map asked at once may have been answered by a node not yet told: after a manual failover,
// the demoted master unsubscribes its channels as it hears of it, and accepts them again as a
// replica, where they would stay until a refresh showed the new master (30 s by default). follow
// moves them once it does.
func (r *subRun) lookAgain(now time.Time) {
	ask := false
	for name, m := range r.movedFrom {
		if now.Add(r.tickEvery / 2).Before(m.at) {
			continue
		}
		ask = true
		if m.looks++; m.looks >= maxLooks {
			delete(r.movedFrom, name)
		} else {
			m.at = now.Add(lookAgainAfter << m.looks)
		}
	}
	if ask {
		r.rt.smap.Refresh()
	}
}

// How soon, and how many times, lookAgain asks the map again.
const (
	lookAgainAfter = time.Second
	maxLooks       = 3
)
