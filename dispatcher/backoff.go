package dispatcher

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// retryQueue holds the requests of one slot that wait to be routed again, in the order the
// dispatcher first took them: those a node gave back with a transient error (backOff) and, while
// it waits, the slot's new requests and redirects (hold; see heldFor). One timer routes them all,
// in that order. Each in a backoff of its own, one caller's pipeline to a key came out reordered:
// in a review, 845 and 1020 of 3000 multi-key commands during a migration (TRYAGAIN), 4,983 of
// 128,000 across a master's restart (CLUSTERDOWN).
//
// A request with no key waits in a queue of its own, which holds nothing else.
type retryQueue struct {
	slot int        // -1: a keyless request's own
	reqs []*Request // back from a node, by seq (see join)
	// held: sent to the slot while reqs wait, in the order they were (by seq too). The two are
	// merged by seq when routed: one of reqs may come back after a later request was held, its
	// reply having been on its way back then.
	held  []*Request
	at    time.Time   // the end of the backoff
	fire  time.Time   // when the timer fires: at, or a member's deadline before it
	timer *time.Timer // nil for a gate's queue until a member's deadline comes before the gate's
	last  error       // the last error a member met
	back  time.Time   // when a member last came back (see settle)
	gate  *gate       // the gate holding the slot, if it was held when the queue started
	// mapEnds: a member met something a new map may end (not TRYAGAIN or LOADING); see
	// retryWaiting.
	mapEnds bool
	// holdsNew: a member met something else than TRYAGAIN, which only a command of several keys
	// meets: the slot's new commands would meet it too, and wait behind (see heldFor).
	holdsNew bool
	probe    probeState // a round's probe (see probeFirst)
}

// holdKind says how a request comes to its slot's queue (see heldFor).
type holdKind int

const (
	comeBack   holdKind = iota // back from a node with a transient error, or routed again
	sentNew                    // new from its sender
	redirected                 // back from a node with MOVED or ASK
)

// queueTries caps the backoff of a slot's queue: it holds the slot's new requests too, which
// would otherwise wait up to 1.5 s behind a command retried many times. With it the queue is
// routed again every 80–240 ms at most, about as often as its members were each retried alone.
const queueTries = 4

// backOff waits before routing r again by the newest map: a transient state, a lost connection, a
// slot no node serves. It waits behind whatever of its slot waits already, and a new map routes
// it at once unless only TRYAGAIN or LOADING is waited out (retryWaiting).
func (a *dispatcherActor) backOff(r *Request, err error) {
	if a.stopping {
		r.giveUp(actors.ErrActorStopped, err)
		return
	}
	r.tries++
	if r.pastDeadline() {
		r.giveUp(ErrTimeout, err)
		return
	}
	// A node failed or left, or a slot has no node, or a write met a replica, or a node says the
	// cluster is down (a failover, or a node no longer in the cluster): the map may be stale. (A
	// node that is down is the map's own business: it refreshes while one stays unreachable.)
	if se := (*resp.Error)(nil); !errors.As(err, &se) && !errors.Is(err, node.ErrOfflineQueueFull) ||
		errors.Is(err, resp.ErrReadOnly) || errors.Is(err, resp.ErrClusterDown) {
		a.opts.Map.Refresh()
	}
	tryAgain := errors.Is(err, resp.ErrTryAgain)
	mapEnds := !tryAgain && !errors.Is(err, resp.ErrLoading)
	if q := a.heldFor(r, comeBack); q != nil {
		q.mapEnds, q.holdsNew = q.mapEnds || mapEnds, q.holdsNew || !tryAgain
		q.last = err
		a.join(q, r)
		return
	}
	q := &retryQueue{slot: -1, reqs: []*Request{r}, last: err, back: time.Now(), mapEnds: mapEnds, holdsNew: !tryAgain}
	if r.keyed {
		q.slot = int(r.slot)
		q.at = time.Now().Add(Backoff(min(r.tries, queueTries)))
	} else {
		q.at = time.Now().Add(Backoff(r.tries))
	}
	a.keep(q)
	a.arm(q, q.earliest())
}

// keep enters q in the dispatcher's books: among those waiting and, for a slot's, as the queue
// holding that slot. forget takes it out.
func (a *dispatcherActor) keep(q *retryQueue) {
	if a.waiting == nil {
		a.waiting = map[*retryQueue]struct{}{}
	}
	a.waiting[q] = struct{}{}
	if q.slot >= 0 {
		if a.held == nil {
			a.held = map[int]*retryQueue{}
		}
		a.held[q.slot] = q
	}
}

// heldFor returns the queue r is to wait in, behind the requests of its slot that wait to be
// routed again, or nil. Those back with a transient error wait there, in the order they came.
//
// A new request waits there unless the queue waits out only TRYAGAIN and it has one key: such a
// command never meets TRYAGAIN, and would wait for nothing, up to the end of a migration (one of
// several keys would meet it too, and sent now, it might come back before those waiting were back
// from their next try).
//
// A redirected one waits there once at most, and behind TRYAGAIN only if it has several keys: a
// batch met TRYAGAIN up to a command and ASK after it (the keys came together meanwhile), and
// those that met ASK go after the others. A gate's queue holds none: what the gate waits for is
// what comes back, in order. Waiting each time, behind the TRYAGAIN of other keys still split, it
// could wait until its deadline: a review found GETs of a moved key held so, meeting the ASK again
// each round, one failing with 17 redirections in a row after 2.77 s (2 completed in 4 s against
// 12,540 before the queue).
func (a *dispatcherActor) heldFor(r *Request, kind holdKind) *retryQueue {
	if !r.keyed || len(a.held) == 0 && len(a.gated) == 0 {
		return nil
	}
	slot := int(r.slot)
	q := a.held[slot]
	if q == nil {
		g := a.gated[slot]
		if g == nil || kind == redirected {
			return nil
		}
		return a.gateQueue(slot, g)
	}
	switch kind {
	case sentNew:
		if !q.holdsNew && !r.multi {
			return nil
		}
	case redirected:
		if r.heldOnce || q.gate != nil || !q.holdsNew && !r.multi {
			return nil
		}
	}
	return q
}

// hold puts r behind the requests of its slot waiting in q: sent now, it would overtake them.
// A new one waits after those back from a node (see retryQueue.held). Its last error says why it
// waited, should its deadline come first.
func (a *dispatcherActor) hold(q *retryQueue, r *Request, kind holdKind) {
	if r.lastErr == nil {
		if q.gate != nil && q.last == q.gate.why {
			r.lastErr = fmt.Errorf("actoredis: slot %d: %w", q.slot, q.last)
		} else {
			r.lastErr = fmt.Errorf("actoredis: waited behind the retries of slot %d, which last met: %w", q.slot, q.last)
		}
	}
	r.heldOnce = r.heldOnce || kind == redirected
	if kind == sentNew {
		q.held = append(q.held, r)
		a.fireBy(q, r)
		return
	}
	a.join(q, r)
}

// join adds r, back from a node, to q, in the order the dispatcher first took them (seq). They
// come back in that order mostly, but not always: a round routed while some of its members were
// still on their way back (see settle) goes out ahead of them, and what of it meets ASK (the keys
// came together meanwhile) comes back behind them. Appended there, it went out behind them: 540 of
// a pipeline of 1000 commands ran ahead of the 460 sent before them (CI run 118).
func (a *dispatcherActor) join(q *retryQueue, r *Request) {
	i := len(q.reqs)
	for i > 0 && q.reqs[i-1].seq > r.seq {
		i--
	}
	q.reqs = slices.Insert(q.reqs, i, r)
	q.back = time.Now()
	a.fireBy(q, r)
}

// fireBy fires q's timer sooner if r's deadline comes before it.
func (a *dispatcherActor) fireBy(q *retryQueue, r *Request) {
	if !r.Deadline.IsZero() && r.Deadline.Before(q.fire) {
		a.arm(q, r.Deadline)
	}
}

// members returns q's requests in the order they are to be routed, the order the dispatcher first
// took them: those back from a node and those held, each in that order already, merged. It leaves
// them all in q.reqs.
func (q *retryQueue) members() []*Request {
	if len(q.held) > 0 {
		merged := make([]*Request, 0, len(q.reqs)+len(q.held))
		back, held := q.reqs, q.held
		for len(back) > 0 && len(held) > 0 {
			if back[0].seq <= held[0].seq {
				merged, back = append(merged, back[0]), back[1:]
			} else {
				merged, held = append(merged, held[0]), held[1:]
			}
		}
		q.reqs = append(append(merged, back...), held...)
		q.held = nil
	}
	return q.reqs
}

// earliest is when q's timer should fire: the end of its backoff, or a member's deadline before it.
func (q *retryQueue) earliest() time.Time { return q.firstBy(q.at) }

// firstBy returns t, or the first of its members' deadlines before t.
func (q *retryQueue) firstBy(t time.Time) time.Time {
	fire := t
	for _, rs := range [][]*Request{q.reqs, q.held} {
		for _, r := range rs {
			if !r.Deadline.IsZero() && r.Deadline.Before(fire) {
				fire = r.Deadline
			}
		}
	}
	return fire
}

// stopTimer stops q's timer and reports whether none is pending now: q.timer is nil then (none
// was armed, or it is stopped). False: it fired, and its retryNow is on its way, which routes q or
// has it wait; q.timer stays set, so that whoever looks next knows that too (see restartWaiting).
func (q *retryQueue) stopTimer() bool {
	if q.timer == nil || q.timer.Stop() {
		q.timer = nil
		return true
	}
	return false
}

// arm sets q's timer to fire at fire. A timer that fired already is left alone: its retryNow is
// on its way, and routes every member then.
func (a *dispatcherActor) arm(q *retryQueue, fire time.Time) {
	if !q.stopTimer() {
		return
	}
	q.fire = fire
	root, pid := a.h.sys.Root(), a.h.pid
	q.timer = time.AfterFunc(time.Until(fire), func() { root.Send(pid, &retryNow{q: q}) })
}

// forget drops q from the dispatcher's books; its members are about to be routed or failed.
func (a *dispatcherActor) forget(q *retryQueue) {
	delete(a.waiting, q)
	if a.held[q.slot] == q {
		delete(a.held, q.slot)
	}
}

// onRetryNow handles q's timer. At the end of its backoff its members are routed, in order; at a
// member's deadline before it, those past theirs give up and the rest wait on. A queue this
// actor does not know (it was restarted since) is routed: nothing else would.
func (a *dispatcherActor) onRetryNow(ctx actor.Context, q *retryQueue) {
	q.timer = nil // it fired: this is its message
	_, known := a.waiting[q]
	now := time.Now()
	fire := q.at
	if known && q.probe != probing && !now.Before(q.at) && q.gate == nil && now.Sub(q.back) < settle && now.Before(q.at.Add(settleAtMost)) {
		fire = now.Add(settle) // members are still coming back
	}
	if known && now.Before(fire) {
		q.reqs, q.held = waitOn(q.reqs), waitOn(q.held)
		if len(q.reqs)+len(q.held) > 0 {
			a.arm(q, q.firstBy(fire))
			return
		}
	}
	if known && a.probeFirst(ctx, q) {
		return
	}
	a.routeAll(ctx, q)
}

// settle: a queue whose backoff ends while its members are still coming back (a member came back
// less than settle ago) waits until none has for settle, settleAtMost past its backoff's end.
// Routed meanwhile, the members back so far would be written behind those sent before them but
// not yet back, and these would then wait behind them in the next queue. It is a bound in time,
// not a count: the dispatcher does not know what is still on its way (a reply that runs the
// command completes its caller directly). Under the race detector on a loaded machine, a
// pipeline of 1000 EVALs meeting TRYAGAIN still ran 39 of them ahead of a smaller one once in
// sixteen runs (10-48 before 0-9), where without the settling 217 and 567 did.
const (
	settle       = 20 * time.Millisecond
	settleAtMost = 100 * time.Millisecond
)

// waitOn returns the requests of rs that wait on: those neither abandoned nor past their deadline
// (which give up now).
func waitOn(rs []*Request) []*Request {
	left := rs[:0]
	for _, r := range rs {
		if !r.over() {
			left = append(left, r)
		}
	}
	clear(rs[len(left):])
	return left
}

// routeAll routes q's members in the order they came to it, and drops q from the books. One that
// waits again (its slot still has no node, say) starts the slot's next queue, and those after it
// join that queue, in order. q no longer holds its slot meanwhile, but stays among those waiting
// until its last member is routed, each taken off it first: a panic while one is routed leaves
// that one in a.routing and the rest in q, for the actor's Restarting or Stopping (see
// restartWaiting). (Dropped first, a panic while routing lost the rest: a review's test left 8 of
// 31 requests neither sent nor failed after Close.)
func (a *dispatcherActor) routeAll(ctx actor.Context, q *retryQueue) {
	if a.held[q.slot] == q {
		delete(a.held, q.slot)
	}
	if a.waiting == nil {
		a.waiting = map[*retryQueue]struct{}{}
	}
	a.waiting[q] = struct{}{} // a queue of an instance before this one's too
	for rs := q.members(); len(rs) > 0; rs = q.reqs {
		a.routing, q.reqs = rs[0], rs[1:]
		a.route(ctx, a.routing)
	}
	a.routing = nil
	delete(a.waiting, q)
}

// routeNow routes q, its time come (q.at is past), unless its timer fired already: the timer's
// retryNow, on its way, routes it then.
func (a *dispatcherActor) routeNow(ctx actor.Context, q *retryQueue) {
	if q.stopTimer() {
		a.routeAll(ctx, q)
	}
}

// restartWaiting hands over what waits, as a panic restarts the actor: the next instance knows
// none of its queues, gates or probes. The request being routed when the panic came fails with
// ErrActorPanicked. Every other queue is routed now, in order, whatever it waits for (a gate, a
// probe, a backoff of LOADING or TRYAGAIN), unless its timer fired already: its retryNow reaches
// the next instance, which routes a queue it does not know. A request whose routing panics again
// fails, and the rest go on. (Only those a map may end were routed: a LOADING queue with its probe
// out stayed with the old instance, whose probe's answer the next one ignored, and went at its
// timer, 2 s later, behind the slot's newer commands; a queue whose timer a panicking map had
// stopped, or one a panicking gate's opening had not reached yet, was never sent.)
func (a *dispatcherActor) restartWaiting(ctx actor.Context) {
	a.failRouting(nil)
	a.closeGates()
	var due []*retryQueue // gathered first: routing them may start new queues, which the next instance gets
	for q := range a.waiting {
		if q.stopTimer() {
			due = append(due, q)
		}
	}
	for _, q := range due {
		for !a.routeAllRecovering(ctx, q) {
		}
	}
}

// routeAllRecovering is routeAll, a panic failing the request being routed; it reports whether
// q is done with. A panic while none was (never seen) fails all that q has left.
func (a *dispatcherActor) routeAllRecovering(ctx actor.Context, q *retryQueue) (done bool) {
	defer func() {
		if p := recover(); p != nil && !a.failRouting(p) {
			delete(a.waiting, q)
			for _, r := range q.members() {
				a.routing = r
				a.failRouting(p)
			}
			done = true
		}
	}()
	a.routeAll(ctx, q)
	return true
}

// failRouting fails the request whose routing panicked (see routeAll), with p, the panic, when
// known, and reports whether there was one.
func (a *dispatcherActor) failRouting(p any) bool {
	r := a.routing
	if r == nil {
		return false
	}
	a.routing = nil
	if p == nil {
		p = "while routing it"
	}
	r.fail(fmt.Errorf("actoredis: %s: %w: %v", r.Name(), actors.ErrActorPanicked, p))
	return true
}

// retryWaiting routes by the new map every queue a map can end, after its probe if probe is set
// (see probeFirst). One whose timer fired already is left to its retryNow, one held by a gate to
// the gate's opening, one whose probe is out to its answer when probe is set (otherwise the actor
// is restarting or stopping, and that answer would not be heard); one whose members met only
// TRYAGAIN or LOADING waits out its backoff, as a new map changes nothing for it (during a
// resharding every MOVED makes one, and it would be sent straight back to meet the same reply).
// (A queue probing when a map moved its slot got the gate, and a second map routed it past the
// gate, in a review's unit test: TestProbeAnsweredWhileAGateHoldsTheSlot.)
func (a *dispatcherActor) retryWaiting(ctx actor.Context, probe bool) {
	var due []*retryQueue // gathered first: routing them may start new queues
	for q := range a.waiting {
		if q.mapEnds && q.gate == nil && (q.probe != probing || !probe) && q.stopTimer() {
			due = append(due, q)
		}
	}
	for _, q := range due {
		if probe && a.probeFirst(ctx, q) {
			continue
		}
		a.routeAll(ctx, q)
	}
}

// giveUpWaiting fails every request waiting to be routed again: the actor is stopping.
func (a *dispatcherActor) giveUpWaiting() {
	a.closeGates()
	for q := range a.waiting {
		q.stopTimer()
		a.forget(q)
		for _, r := range q.members() {
			r.giveUp(actors.ErrActorStopped, r.lastErr)
		}
	}
}
