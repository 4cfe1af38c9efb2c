package api

import (
	"context"
	"fmt"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/slotmap"
)

// dialed is the outcome of a dial: the connection, or why there is none.
type dialed struct {
	ref  *slotmap.Ref
	conn *node.SubConn
	err  error
}

// dial opens a connection to ref's node on a goroutine of its own, unless one is being dialled
// already: a node slow to answer (up to ConnectTimeout) holds up neither the subscription's other
// connections nor Add and Remove. Its outcome comes back on dials (dialled).
func (r *subRun) dial(ref *slotmap.Ref) {
	if _, ok := r.dialing[ref.Addr]; ok {
		return
	}
	r.dialing[ref.Addr] = ref
	ctx, cancel := r.ctx, context.CancelFunc(func() {})
	if r.s.kind != subShard && len(r.rt.smap.Snapshot().ServingMasters()) > 1 { // anyNode's choice
		// Any master will do: one that accepts and does not answer (a stopped process) is given
		// up for another before the wait of a Subscribe is over. The bound doubles with each
		// failure in a row, for a handshake that is only slow (TLS far away, a loaded server).
		ctx, cancel = context.WithTimeout(r.ctx, min(anyNodeDial(r.c.opts)<<min(r.tries, 4), r.c.opts.ConnectTimeout))
	}
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		defer cancel()
		conn, err := ref.Node.Subscriber(ctx, r.cmd)
		select {
		case r.dials <- dialed{ref: ref, conn: conn, err: err}:
		case <-r.ctx.Done():
			if conn != nil {
				_ = conn.Close()
			}
		}
	}()
}

// anyNodeDial bounds the first dial of a channel or pattern subscription's connection, when the
// cluster has another master to try: a third of CommandTimeout, at least 500 ms, at most
// ConnectTimeout.
func anyNodeDial(o ClusterOptions) time.Duration {
	return min(max(o.CommandTimeout/3, 500*time.Millisecond), o.ConnectTimeout)
}

// lastFailure is what a wait that ended names as the last failure: a connection still being
// opened, or else the last failure met, or else a connection whose confirmation was still due (a
// slow server, or a slow link).
func (r *subRun) lastFailure() error {
	for addr := range r.dialing {
		return fmt.Errorf("actoredis: node %s: %s: the connection was still being opened", addr, r.cmd)
	}
	if r.s.last != nil {
		return r.s.last
	}
	for addr, l := range r.links {
		for _, s := range l.sent {
			if s.kind == sentSubscribe {
				return fmt.Errorf("actoredis: node %s: %s: its confirmation was still due", addr, r.cmd)
			}
		}
	}
	return nil
}

// dialled takes a dial's outcome: a connection starts its reader and takes the names pending for
// its node; a failure is tried again after a backoff, by a newer map if there is one.
func (r *subRun) dialled(d dialed) {
	delete(r.dialing, d.ref.Addr)
	if d.err != nil {
		r.s.last = d.err
		r.avoid = d.ref.Addr
		r.rt.smap.Refresh() // the node may be gone: a newer map may say where its slots went
		r.later()
		return
	}
	conn := d.conn
	r.avoid = ""
	l := &link{conn: conn, names: map[string]struct{}{}, live: map[string]struct{}{},
		// Close (or the cluster's) interrupts a write stalled on a server that stopped reading.
		unwatch: context.AfterFunc(r.ctx, func() { _ = conn.Close() })}
	r.links[d.ref.Addr] = l
	r.readers.Add(1)
	go l.read(r.ctx, r.in, r.events, &r.readers)
	r.place()
	if r.links[d.ref.Addr] == l {
		r.dropIfIdle(l) // the map moved its names elsewhere meanwhile
	}
}
