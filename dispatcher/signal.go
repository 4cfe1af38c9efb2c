package dispatcher

import (
	"time"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
)

// signal returns a request the dispatcher sends a node for its own ends, a gate's barrier or a
// retry queue's probe: o hears of its completion, by a reply or an error, on the goroutine that
// completes it. o owns it too, taking nothing back (it then fails, and completes): as a request
// with an Owner and a deadline it waits in the offline queue of an unreachable node past the
// queue's bound (node.Options.OfflineQueue), behind the commands it follows, and fails after them
// when the node gives them back (its close, or ReleaseQueued). With no Owner a barrier met the
// bound at once after a failover (some 2000 RPUSHes wait there at one a millisecond) whenever it
// reached the dead master's node before the map's close did: ErrOfflineQueueFull completed it,
// the gate opened before the node gave its queue back, and the slot's new commands reached the
// new master first (15, 16 and 20 of 4000 out of place in a helper's runs under the race
// detector, 17 in CI run 94).
func signal(o signaller, until time.Time, args ...any) *node.Request {
	r := &node.Request{Args: args, Owner: o}
	r.Init()
	r.Until = until
	r.Observe(o)
	return r
}

// signaller hears of a signal's completion (see signal).
type signaller interface {
	actors.Observer
	node.Owner
}

// ownsNothing is the Owner half of a signaller, and runs its observer where the signal completes:
// after what the node gave back or answered before it has gone to the dispatcher.
type ownsNothing struct{}

func (ownsNothing) Return(*node.Request, error) bool { return false }
func (ownsNothing) Go(fn func())                     { fn() }
