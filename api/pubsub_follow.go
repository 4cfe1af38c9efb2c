package api

import (
	"fmt"
	"time"
)

// followEvery is how often a shard subscription compares its connections with the map.
const followEvery = time.Second

// follow moves the shard channels whose slot the map shows served by another master than the
// node their connection reaches. A slot that moves away is mostly followed as the server
// unsubscribes its channels (sunsubscribe), but not always to the right place: after a manual
// failover the demoted master unsubscribes them, and the map may still name it when they are
// subscribed again; it accepts them as a replica, and stops delivering them if it later
// replicates another master. Each channel moved is unsubscribed there (SUNSUBSCRIBE) and
// subscribed where the map says, with an EventError matching ErrSubscriptionGap per connection.
func (r *subRun) follow() {
	snap := r.rt.smap.Snapshot()
	if snap == nil || snap == r.seen {
		return
	}
	r.seen = snap
	for addr, l := range r.links {
		var moved []any
		for n := range l.names {
			if m := snap.Master(GetSlot(n)); m != nil && m.Addr != addr {
				moved = append(moved, n)
			}
		}
		if len(moved) == 0 {
			continue
		}
		for _, n := range moved {
			name := n.(string)
			delete(l.names, name)
			delete(l.live, name)
			r.pending[name] = struct{}{}
		}
		// The server answers with one sunsubscribe per channel, which finds them gone from
		// l.names and changes nothing; a connection left with none is then dropped.
		if err := l.conn.Write(append([]any{"SUNSUBSCRIBE"}, moved...)...); err != nil {
			r.lose(l, err)
			continue
		}
		r.c.emit(Event{Type: EventError, Addr: addr, Err: fmt.Errorf(
			"actoredis: node %s: %s %q: the map shows their slots on another master now: %w",
			addr, r.cmd, moved, ErrSubscriptionGap)})
	}
	r.place()
}
