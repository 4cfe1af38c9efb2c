package dispatcher

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/actors"
)

// Handle is a dispatcher: the way to send it requests. It is safe for concurrent use.
type Handle struct {
	sys    *actors.System
	pid    *actor.PID
	lender actors.Lender
	lend   bool
	closed atomic.Bool
}

// Start spawns a dispatcher and subscribes it to opts.Map's snapshots.
func Start(sys *actors.System, opts Options) (*Handle, error) {
	opts = opts.withDefaults()
	h := &Handle{sys: sys, lend: opts.Lend}
	pid, err := sys.Spawn("", func() actor.Actor {
		// Start from the newest map, so no request arrives before the first snapshot message.
		return &dispatcherActor{opts: opts, h: h, snap: opts.Map.Snapshot()}
	}, actors.SpawnOptions{Lender: &h.lender})
	if err != nil {
		return nil, err
	}
	h.pid = pid
	opts.Map.Subscribe(pid)
	return h, nil
}

// Send routes r; its Future completes with the reply or an error.
func (h *Handle) Send(r *Request) { h.sys.Root().Send(h.pid, r) }

// SendAlone is Send for a request its sender knows to be the only one in flight. When the
// dispatcher is idle it routes r on this goroutine; then, with the dispatcher free again (a long
// write holds no other request), the node writes r here too if it can, and may read its reply here
// as well (Node.TryRun, whose ctx this is). It reports whether r was written here.
func (h *Handle) SendAlone(ctx context.Context, r *Request) (written bool) {
	if !h.lend || !h.lender.TryRun(lent{r}) {
		h.sys.Root().Send(h.pid, r)
		return false
	}
	n := r.handOff
	if n == nil {
		return false // failed, waiting in a backoff, or given to the slot map
	}
	r.handOff = nil
	if n.TryRun(ctx, &r.Request) {
		return true
	}
	n.Send(&r.Request)
	return false
}

// Close stops the dispatcher after the requests already queued; later ones fail.
func (h *Handle) Close(timeout time.Duration) {
	h.closed.Store(true)
	h.sys.Stop(h.pid, timeout)
}
