package dispatcher

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// A slot's queue whose members a server refused for a state of its own (CLUSTERDOWN, LOADING), or
// lost with a connection, is not sent whole at the end of its backoff: a write of nothing to a key
// of the slot goes first (SETRANGE key 0 "", which creates no key and changes none), the probe,
// and the queue goes once the slot's master has answered it. A server whose state changes while
// it reads a round written at once (a restarted master ending its CLUSTERDOWN) refuses the round
// up to a command and runs the rest, and those refused then run after them: a helper's
// instrumented runs saw the list [5857-19999 5200-5856] so, and up to 17,592 of 20,000 RPUSHes out
// of place across such a restart. Refused, the probe keeps the queue waiting another backoff;
// answered, the server takes keyed commands now, and the round goes. It is a write: a server with
// cluster-allow-reads-when-down answers reads while it refuses writes.
//
// A user the server denies the probe (NOPERM: an ACL that keeps it to some keys or commands) has
// no more probes from this dispatcher: its rounds go whole, as before there were probes.
// probeFor bounds a probe's wait to be answered: one not answered by then (a restarted master not
// connected yet, a frozen one) counts as a refusal, and the queue waits again. One never heard of
// (sent to a node gone from the map) lets the round go probeFor after that, as it would have
// without a probe.
const probeFor = 200 * time.Millisecond

// probeState is where a queue stands with its probe.
type probeState uint8

const (
	unprobed probeState = iota
	probing             // sent, not answered
	passed              // answered: the round goes without another
)

// prober hears of a probe (see signal): its answer goes to the dispatcher.
type prober struct {
	ownsNothing
	q    *retryQueue
	root *actor.RootContext
	pid  *actor.PID
}

func (p *prober) Completed(err error) { p.root.Send(p.pid, &probeDone{q: p.q, err: err}) }

// probeDone carries a probe's answer: nil, or the error it met.
type probeDone struct {
	q   *retryQueue
	err error
}

// probeFirst sends q's probe instead of routing q, and reports whether it did: q keeps its slot
// and its members until the answer (onProbeDone), or probeFor. A queue of one request, of
// TRYAGAIN alone (which a key of its own never meets: a probe would always pass), or held by a
// gate (what it waits for is what comes back, in order) is routed as it is.
func (a *dispatcherActor) probeFirst(ctx actor.Context, q *retryQueue) bool {
	if q.probe != unprobed || !q.holdsNew || q.slot < 0 || q.gate != nil || a.stopping || a.snap == nil ||
		a.probeDenied || len(q.reqs)+len(q.held) < 2 {
		return false
	}
	shard := a.snap.Shard(q.slot)
	if shard == nil {
		return false // the members find no node either, and wait again
	}
	until := time.Now().Add(probeFor)
	p := signal(&prober{q: q, root: a.h.sys.Root(), pid: a.h.pid}, until, "SETRANGE", probeKeys()[q.slot], "0", "")
	q.probe, q.at = probing, until.Add(probeFor)
	q.timer = nil // fired, or stopped by retryWaiting
	a.arm(q, q.earliest())
	ctx.Send(shard.Master.Node.PID(), p)
	return true
}

// onProbeDone routes q, its probe answered, or has it wait another backoff if the server still
// refuses. A queue routed meanwhile (probeFor passed, a gate opened, the actor restarted) is
// left alone.
func (a *dispatcherActor) onProbeDone(ctx actor.Context, m *probeDone) {
	q := m.q
	if _, known := a.waiting[q]; !known || q.probe != probing {
		return
	}
	if q.gate != nil {
		q.probe = passed // a gate closed on the slot meanwhile: its opening routes q
		return
	}
	if refusedStill(m.err) {
		q.probe, q.at = unprobed, time.Now().Add(Backoff(queueTries))
		if se := (*resp.Error)(nil); errors.As(m.err, &se) {
			q.last = m.err // what a member giving up meanwhile says it waited for
		}
	} else {
		q.probe, q.at = passed, time.Now()
		a.probeDenied = a.probeDenied || errors.Is(m.err, resp.ErrNoPerm)
	}
	if q.timer == nil || q.timer.Stop() {
		q.timer = nil
		if q.probe == passed {
			a.forget(q)
			a.routeAll(ctx, q)
			return
		}
		a.arm(q, q.earliest())
	}
	// Otherwise its timer fired: its retryNow is on its way, and routes q or has it wait, by q.at.
}

// refusedStill says a probe's error is the server still refusing keyed commands, or not
// answering within probeFor: the round would meet the same.
func refusedStill(err error) bool {
	return errors.Is(err, resp.ErrClusterDown) || errors.Is(err, resp.ErrLoading) ||
		errors.Is(err, resp.ErrMasterDown) || errors.Is(err, resp.ErrTryAgain) || errors.Is(err, node.ErrTimeout)
}

// probeKeys returns a key of each slot, for the probes: "actoredis-probe-" and the first number
// that hashes there. Made once, at the first probe: about 170,000 hashes of a short key (a few
// milliseconds). (Searched for one slot at a time on the dispatcher's goroutine, all 16,384 took
// 43.7 s, one of them 212 ms; in a review, a CLUSTERDOWN with the queues of 21,846 slots held the
// dispatcher so long that every command overran its 5 s timeout by up to 28 s.)
var probeKeys = sync.OnceValue(func() *[slotmap.NumSlots]string {
	var keys [slotmap.NumSlots]string
	left := slotmap.NumSlots
	buf := append(make([]byte, 0, 40), "actoredis-probe-"...)
	for i := 0; left > 0; i++ {
		b := strconv.AppendInt(buf, int64(i), 10)
		if slot := slotmap.SlotBytes(b); keys[slot] == "" {
			keys[slot] = string(b)
			left--
		}
	}
	return &keys
})
