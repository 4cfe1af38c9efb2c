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
// of the slot goes to the slot's master first (SETRANGE key 0 "", which creates no key and changes
// none), the probe, and the queue goes once it is answered. A server whose state changes while it
// reads a round written at once (a restarted master ending its CLUSTERDOWN) refuses the round up
// to a command and runs the rest, and those refused then run after them: a helper's instrumented
// runs saw the list [5857-19999 5200-5856] so, and up to 17,592 of 20,000 RPUSHes out of place
// across such a restart. Refused, the probe keeps the queue waiting another backoff; answered, the
// server takes keyed commands now, and the round goes. It is a write: a server with
// cluster-allow-reads-when-down answers reads while it refuses writes.
//
// Those states are the server's, not a slot's: the queues waiting on one master share its probe
// (see nodeProbe), and a CLUSTERDOWN costs that server one command a round, however many slots
// wait. (With a probe per slot, 10,923 slots waiting cost their masters 10,923 a round.)
//
// A user the server denies the probe (NOPERM: an ACL that keeps it to some keys or commands) has
// no more probes from this dispatcher: its rounds go whole, as before there were probes.

// probeFor bounds a probe's wait to be answered: its node fails it then (within its clock's
// tick), unwritten (no connection: a refusal, the queues wait again) or written and unanswered (a
// slow server: the rounds go, see refusedStill). It was 200 ms: under the race detector beside a
// whole test run (CI's load), a probe written to a restarted master had no answer by then,
// passed, and the round went whole and was split (2340 of 20,000 out of place in CI run 104; in
// 9 runs so, one failed, 1267, the one where a probe passed so). One never heard of unheardFor
// past its deadline lets the rounds go, as they would have without a probe: every request a node
// is sent completes, so that is a bound against a fault, not a path taken (it was 200 ms too, and
// under that load the rounds went before the answer: 8924 out of place in CI run 101).
const (
	probeFor   = time.Second
	unheardFor = time.Second
)

// probeState is where a queue stands with its probe.
type probeState uint8

const (
	unprobed probeState = iota
	probing             // sent, not answered
	passed              // answered: the round goes without another
)

// nodeProbe is a probe out to a master, and the queues waiting on its answer.
type nodeProbe struct {
	addr   string
	sent   time.Time
	until  time.Time // its deadline: past it, no queue joins it
	queues []*retryQueue
}

// prober hears of a probe (see signal): its answer goes to the dispatcher.
type prober struct {
	ownsNothing
	p    *nodeProbe
	root *actor.RootContext
	pid  *actor.PID
}

func (p *prober) Completed(err error) { p.root.Send(p.pid, &probeDone{p: p.p, err: err}) }

// probeDone carries a probe's answer: nil, or the error it met.
type probeDone struct {
	p   *nodeProbe
	err error
}

// probeFirst has q wait on a probe of its slot's master instead of routing q, and reports whether
// it did: q keeps its slot and its members until the answer (onProbeDone), or unheardFor past the
// probe's deadline. A probe out to that master already is waited on; otherwise one is sent. A queue
// whose master has no connection up, one of TRYAGAIN alone (a state of its keys, which a key of
// its own never meets: a probe would always pass), or one held by a gate (what it waits for is
// what comes back, in order) is routed as it is.
func (a *dispatcherActor) probeFirst(ctx actor.Context, q *retryQueue) bool {
	if q.probe != unprobed || !q.holdsNew || q.slot < 0 || q.gate != nil || a.stopping || a.snap == nil ||
		a.probeDenied || len(q.reqs)+len(q.held) == 0 {
		return false
	}
	shard := a.snap.Shard(q.slot)
	if shard == nil {
		return false // the members find no node either, and wait again
	}
	if !shard.Master.Node.Connected() {
		// Nothing to probe: the members wait in the node's offline queue, in order, or a read
		// goes to a replica (UseReplicas). Waiting on a probe there, the reads of a dead master's
		// slots would wait for its failover.
		return false
	}
	key := probeKeys()[q.slot] // made at the first probe: the clock is read after
	now := time.Now()
	// A probe sent before the last of q's members came back may pass on a state they did not meet;
	// one past its deadline is answered soon, and its fallback with it.
	p := a.probes[shard.Master.Addr]
	if p == nil || !p.sent.After(q.back) || now.After(p.until) {
		p = &nodeProbe{addr: shard.Master.Addr, sent: now, until: now.Add(probeFor)}
		if a.probes == nil {
			a.probes = map[string]*nodeProbe{}
		}
		a.probes[p.addr] = p
		ctx.Send(shard.Master.Node.PID(), signal(&prober{p: p, root: a.h.sys.Root(), pid: a.h.pid}, p.until,
			"SETRANGE", key, "0", ""))
	}
	p.queues = append(p.queues, q)
	q.probe, q.at = probing, p.until.Add(unheardFor)
	a.arm(q, q.earliest())
	return true
}

// onProbeDone routes the queues that waited on a probe, now answered, or has them wait another
// backoff if the server still refuses.
func (a *dispatcherActor) onProbeDone(ctx actor.Context, m *probeDone) {
	if a.probes[m.p.addr] == m.p {
		delete(a.probes, m.p.addr)
	}
	if !a.probeDenied && errors.Is(m.err, resp.ErrNoPerm) {
		a.probeDenied = true
		a.opts.Logger.Warn("dispatcher: the server denied the probe of a refusing server's state; "+
			"rounds of retries go unprobed, and one a server reads as its state changes may run out of order",
			"node", m.p.addr, "error", m.err)
	}
	// Refused, they all wait the same backoff, and share the next probe too: each drawing its own,
	// they sent one each (246 a second to one master with 50 slots waiting, in a run).
	again := time.Now().Add(Backoff(queueTries))
	for _, q := range m.p.queues {
		a.probeAnswered(ctx, q, m.err, again)
	}
}

// probeAnswered routes q, its probe answered, or has it wait until again if the server still
// refuses. A queue routed meanwhile (unheardFor passed, a gate opened, the actor restarted) is left
// alone.
func (a *dispatcherActor) probeAnswered(ctx actor.Context, q *retryQueue, err error, again time.Time) {
	if _, known := a.waiting[q]; !known || q.probe != probing {
		return
	}
	if q.gate != nil {
		q.probe = passed // a gate closed on the slot meanwhile: its opening routes q
		return
	}
	if refusedStill(err) {
		q.probe, q.at = unprobed, again
		if se := (*resp.Error)(nil); errors.As(err, &se) {
			q.last = err // what a member giving up meanwhile says it waited for
		}
		a.arm(q, q.earliest()) // a timer that fired has its retryNow have q wait, by q.at
		return
	}
	q.probe, q.at = passed, time.Now()
	a.routeNow(ctx, q)
}

// refusedStill says a probe's error is the server still refusing keyed commands, or the probe
// unwritten by its deadline or lost with its connection (the node is not connected: the next
// round goes as before probes, see probeFirst): the round would meet the same. A probe written
// and not answered by its deadline is not a refusal: a slow server (a long script, a slow link)
// would never pass one, and its queues would wait until their deadlines (a review: 4,009 and
// 9,203 of 15,150 and 17,190 timed out behind a master sleeping a second at a time, 0 and 821
// without probes).
func refusedStill(err error) bool {
	var ce *node.ConnError
	return errors.Is(err, resp.ErrClusterDown) || errors.Is(err, resp.ErrLoading) ||
		errors.Is(err, resp.ErrMasterDown) || errors.Is(err, resp.ErrTryAgain) ||
		errors.As(err, &ce) || errors.Is(err, node.ErrTimeout) && !node.WasWritten(err)
}

// probeKeys returns a key of each slot, for the probes: "actoredis-probe-{N}", N the first number
// that hashes there (the tag alone is hashed). Made once, at the first probe: about 170,000 hashes
// of a few digits, a millisecond or two (searched for one slot at a time on the dispatcher's
// goroutine, all 16,384 took 43.7 s, one of them 212 ms; in a review, a CLUSTERDOWN with the
// queues of 10,923 slots held the dispatcher so long that every command overran its 5 s timeout
// by up to 28 s).
var probeKeys = sync.OnceValue(func() *[slotmap.NumSlots]string {
	var keys [slotmap.NumSlots]string
	left := slotmap.NumSlots
	var digits []byte
	for i := 0; left > 0; i++ {
		digits = strconv.AppendInt(digits[:0], int64(i), 10)
		if slot := slotmap.SlotBytes(digits); keys[slot] == "" {
			keys[slot] = "actoredis-probe-{" + string(digits) + "}"
			left--
		}
	}
	return &keys
})
