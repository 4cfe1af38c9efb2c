package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// subRun is a Subscription's state, owned by its one goroutine (run): which connection carries
// which names, which wait to be subscribed (again), what the servers have yet to confirm. The
// connections' readers tell it what they read by message (events), and pass the messages to the
// pump, which hands them to the user.
type subRun struct {
	c       *Cluster
	rt      *running
	s       *Subscription
	cmd     string              // SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE
	ctx     context.Context     // ends with the subscription (Close, or the cluster's)
	links   map[string]*link    // by node address
	pending map[string]struct{} // names to subscribe (again)
	alone   map[string]struct{} // names to subscribe one per command: see refused
	events  chan linkEvent
	in      chan Message            // the readers' messages, to the pump
	readers sync.WaitGroup          // the readers, the pump and the dials
	dialing map[string]*slotmap.Ref // the nodes a connection is being dialled to, by address
	dials   chan dialed             // the dials' outcomes
	loosen  chan struct{}           // tells the pump an Add waits: see pump
	adding  atomic.Int32            // Adds waiting: the pump takes every message meanwhile

	unconfirmed int               // names written and not yet confirmed
	ready       chan<- error      // Subscribe's, until it has heard
	confirmed   chan struct{}     // closed once Subscribe has heard it worked: the pump holds back then
	tries       int               // failed placements in a row, for the backoff
	retry       *time.Timer       // the next placement, while one is due
	why         error             // why it ended, for a Subscribe still waiting
	ended       error             // why it ended, for Err: the cluster's Close, or every name refused for good
	seen        *slotmap.Snapshot // the map follow last looked at
	movedFrom   map[string]*moved // shard channels their node unsubscribed, by name (see lookAgain)
	avoid       string            // the node a channel or pattern connection last failed on (see anyNode)

	changes   chan func(r *subRun)  // Add's and Remove's requests, run by the goroutine
	waiting   map[string][]*addWait // by name not yet confirmed, the Adds waiting for it
	tickEvery time.Duration         // how often the goroutine checks health (and follows the map)
	pingIdle  time.Duration         // how long a connection may read nothing before it is PINGed
}

func newSubRun(c *Cluster, rt *running, s *Subscription, names []string, ready chan<- error) *subRun {
	ctx, cancel := context.WithCancel(rt.ending)
	s.end = cancel
	r := &subRun{c: c, rt: rt, s: s, cmd: s.kind.command(), ctx: ctx, ready: ready, why: errSubscriptionEnded,
		links: map[string]*link{}, pending: map[string]struct{}{}, alone: map[string]struct{}{},
		events: make(chan linkEvent, 64), in: make(chan Message, 64), confirmed: make(chan struct{}),
		changes: make(chan func(*subRun)), waiting: map[string][]*addWait{}, tickEvery: subTickEvery, pingIdle: pingIdle,
		dialing: map[string]*slotmap.Ref{}, dials: make(chan dialed), loosen: make(chan struct{}, 1),
		movedFrom: map[string]*moved{}}
	for _, n := range names {
		r.pending[n] = struct{}{}
	}
	s.changes = r.changes
	return r
}

func (r *subRun) run() {
	defer r.rt.subs.Done()
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		pump(r.ctx, r.in, r.s.out, r.confirmed, &r.adding, r.loosen)
	}()
	defer r.shutdown()
	r.place()
	tick := time.NewTicker(r.tickEvery)
	defer tick.Stop()
	for {
		var retry <-chan time.Time
		if r.retry != nil {
			retry = r.retry.C
		}
		select {
		case <-r.ctx.Done():
			if r.ended == nil && r.rt.ending.Err() != nil {
				r.ended = fmt.Errorf("actoredis: %s: %w", r.cmd, ErrClientClosed)
				r.why = r.ended
			}
			return
		case ev := <-r.events:
			r.handle(ev)
		case <-retry:
			r.retry = nil
			r.place()
		case now := <-tick.C:
			r.checkHealth(now)
			if r.s.kind == subShard {
				r.follow()
				r.lookAgain(now)
			}
		case change := <-r.changes:
			change(r)
		case d := <-r.dials:
			r.dialled(d)
		}
	}
}

// shutdown closes the connections, waits for their readers and the pump, and closes Messages.
func (r *subRun) shutdown() {
	r.s.end() // when it ends for a panic
	if r.retry != nil {
		r.retry.Stop()
	}
	for _, l := range r.links {
		_ = l.conn.Close()
	}
	r.readers.Wait()
	if r.ready != nil { // Subscribe still waits: for a dial, maybe
		r.s.last = r.lastFailure()
	}
	r.tell(r.why)
	r.s.err = r.ended
	close(r.s.said)
	close(r.s.out)
	close(r.s.done)
}

// tell gives Subscribe, if it still waits, the outcome of the first subscription.
func (r *subRun) tell(err error) {
	if r.ready != nil {
		r.ready <- err
		r.ready = nil
		if err == nil {
			close(r.confirmed)
		}
	}
}

// place subscribes the pending names where the map says they live: on the connection already
// open to that node, or on a new one once it is dialled (see dial). What has no node now is tried
// again after a backoff.
func (r *subRun) place() { r.placeWith(r.rt.smap.Snapshot()) }

// placeWith is place by the map snap.
func (r *subRun) placeWith(snap *slotmap.Snapshot) {
	if len(r.pending) == 0 {
		return
	}
	groups := map[string][]string{} // by node address
	refs := map[string]*slotmap.Ref{}
	var shared *slotmap.Ref // for channels and patterns: one node for all
	if r.s.kind != subShard {
		shared = r.anyNode(snap)
	}
	unrouted := false
	for name := range r.pending {
		ref := shared
		if r.s.kind == subShard && snap != nil {
			ref = snap.Master(GetSlot(name))
			if m, ok := r.movedFrom[name]; ok && (ref == nil || ref.Addr != m.from) {
				delete(r.movedFrom, name) // the map has seen it go
			}
		}
		if ref != nil {
			groups[ref.Addr] = append(groups[ref.Addr], name)
			refs[ref.Addr] = ref
		} else {
			r.s.last = fmt.Errorf("actoredis: %s %q: %w", r.cmd, name, ErrNoRoute)
			unrouted = true
		}
	}
	for addr, names := range groups {
		l := r.links[addr]
		if l == nil {
			r.dial(refs[addr]) // the names wait, pending, for its outcome
			continue
		}
		if err := r.write(l, names); err != nil {
			r.lose(l, err)
		}
	}
	if unrouted {
		r.later()
	}
}

// anyNode is the node for channels and patterns (PUBLISH reaches every node): the one already
// subscribed to, or a random master, one with a connection up and other than the one the last
// connection failed on when there is one. A master serving slots is picked when there is one: one
// serving none is often about to leave the cluster, and once gone it hears no one's messages,
// while nothing (no MOVED) would move the subscription.
func (r *subRun) anyNode(snap *slotmap.Snapshot) *slotmap.Ref {
	if snap == nil {
		return nil
	}
	for _, l := range r.links { // at most one
		return &slotmap.Ref{Addr: l.conn.Addr()}
	}
	for _, ref := range r.dialing { // at most one
		return ref
	}
	masters := snap.ServingMasters()
	if len(masters) == 0 {
		if masters = snap.Masters(); len(masters) == 0 {
			return nil
		}
	}
	var up, others []*slotmap.Ref
	for _, m := range masters {
		switch {
		case m.Addr == r.avoid:
		case m.Node.Connected():
			up = append(up, m)
		default:
			others = append(others, m)
		}
	}
	for _, pick := range [][]*slotmap.Ref{up, others} {
		if len(pick) > 0 {
			return pick[rand.IntN(len(pick))]
		}
	}
	return masters[rand.IntN(len(masters))]
}

// write sends the subscribe commands for names on l: one per slot for shard channels (SSUBSCRIBE
// refuses channels of several slots), one for the others; one per name for those in alone.
func (r *subRun) write(l *link, names []string) error {
	sort.Strings(names)
	var cmds [][]string
	bySlot := map[int]int{} // slot → its command's index in cmds
	for _, n := range names {
		if _, ok := r.alone[n]; ok {
			cmds = append(cmds, []string{n})
			continue
		}
		slot := r.s.kind.slot(n)
		if i, ok := bySlot[slot]; ok {
			cmds[i] = append(cmds[i], n)
		} else {
			bySlot[slot] = len(cmds)
			cmds = append(cmds, []string{n})
		}
	}
	for _, group := range cmds {
		for _, n := range group {
			l.names[n] = struct{}{}
			delete(r.pending, n)
		}
		l.sent = append(l.sent, &sent{kind: sentSubscribe, names: group, left: len(group)})
		r.unconfirmed += len(group)
		if err := l.conn.Write(append([]any{r.cmd}, toAny(group)...)...); err != nil {
			return err
		}
	}
	return nil
}

// later schedules the next placement, after a backoff that grows with the failures in a row.
func (r *subRun) later() {
	if r.retry == nil {
		r.tries++
		r.retry = time.NewTimer(dispatcher.Backoff(r.tries))
	}
}

// lose drops l after its connection failed: its names are subscribed again, elsewhere if the map
// says so.
func (r *subRun) lose(l *link, err error) {
	if r.links[l.conn.Addr()] != l {
		return // already dropped
	}
	r.drop(l)
	r.avoid = l.conn.Addr()
	for n := range l.names {
		r.pending[n] = struct{}{}
	}
	r.s.last = err
	if len(l.live) > 0 {
		r.gap(l, gapOf(l.conn.Addr(), r.cmd, l.live, err))
	}
	r.rt.smap.Refresh()
	r.later()
}

// gap says, with an EventError naming l's node, that names l carried and the server had confirmed
// were interrupted: once Subscribe has returned (before, nothing was missed that the caller had
// been promised).
func (r *subRun) gap(l *link, err error) {
	if r.ready == nil {
		r.s.gaps.Add(1)
		r.c.emit(Event{Type: EventError, Addr: l.conn.Addr(), Err: err})
	}
}

// drop forgets l and closes its connection.
func (r *subRun) drop(l *link) {
	delete(r.links, l.conn.Addr())
	l.unwatch()
	_ = l.conn.Close()
	for _, s := range l.sent {
		if s.kind == sentSubscribe {
			r.unconfirmed -= s.left
		}
	}
	l.sent = nil
}

// dropIfIdle drops l once it carries no name and waits for no confirmation.
func (r *subRun) dropIfIdle(l *link) {
	if len(l.names) == 0 && len(l.sent) == 0 {
		r.drop(l)
	}
}

// handle applies what a connection's reader read.
func (r *subRun) handle(ev linkEvent) {
	l := ev.link
	if r.links[l.conn.Addr()] != l {
		return // from a connection dropped since
	}
	switch ev.kind {
	case linkLost:
		r.lose(l, ev.err)
	case linkRefused:
		r.refused(l, ev.se)
	case linkConfirmed:
		if _, ok := l.names[ev.name]; ok { // not one the server unsubscribed meanwhile
			l.live[ev.name] = struct{}{}
			r.confirmedFor(ev.name)
		}
		if head := l.head(sentSubscribe); head != nil {
			r.unconfirmed--
			l.answered(head)
		}
	case linkPong:
		if head := l.head(sentPing); head != nil {
			l.answered(head)
		}
	case linkDropped:
		if head := l.head(sentUnsubscribe); head != nil && head.names[len(head.names)-head.left] == ev.name {
			// Remove's UNSUBSCRIBE, answered name by name in order: the name left l.names as it
			// was written.
			l.answered(head)
		} else if _, ok := l.names[ev.name]; ok {
			// The server unsubscribed it: its slot left the node (SSUBSCRIBE). Subscribe it again
			// where the slot went.
			if _, live := l.live[ev.name]; live {
				r.gap(l, gapOf(l.conn.Addr(), r.cmd, map[string]struct{}{ev.name: {}}, nil))
			}
			delete(l.names, ev.name)
			delete(l.live, ev.name)
			r.pending[ev.name] = struct{}{}
			r.movedFrom[ev.name] = &moved{from: l.conn.Addr(), at: time.Now().Add(lookAgainAfter)}
			r.rt.smap.Refresh()
			r.later()
		}
	}
	if r.links[l.conn.Addr()] == l {
		r.dropIfIdle(l) // nothing left on it, and every command answered
	}
	if r.unconfirmed == 0 && len(r.pending) == 0 {
		r.tries = 0
		r.s.last = nil // all is well: an Add failing later names what failed since
		r.tell(nil)
	}
}

// head returns l's oldest command not fully answered if it is of kind k, or nil.
func (l *link) head(k sentKind) *sent {
	if len(l.sent) > 0 && l.sent[0].kind == k {
		return l.sent[0]
	}
	return nil
}

// answered counts one frame answering head, l's oldest command, and forgets it once it has all.
func (l *link) answered(head *sent) {
	if head.left--; head.left <= 0 {
		l.pop()
	}
}

// pop takes l's oldest command off its queue, clearing its place: the array underneath may outlive
// it, and need not keep its names.
func (l *link) pop() {
	l.sent[0] = nil
	l.sent = l.sent[1:]
}

// refused handles an error reply to l's oldest command not fully answered. A subscribe command
// that may pass (a redirect, BUSY, LOADING...) is tried again, where a MOVED says. One for good
// (see forGood) fails Subscribe; once it has returned, a command of several names is tried again
// one name per command, so that only the names refused are dropped, each with an EventError (or,
// for a name an Add added, with the Add's error). The subscription ends when none is left. Names
// taken out of the subscription since the command was written (Remove, a failed Add) are left
// out. A redirected unsubscribe command is done; a redirect may answer no command (see stray).
func (r *subRun) refused(l *link, se *resp.Error) {
	if len(l.sent) == 0 {
		return // for no command of ours
	}
	head := l.sent[0]
	rd, redirected, _ := resp.ParseRedirect(se)
	if redirected && r.stray(head, rd) {
		return
	}
	l.pop()
	switch head.kind {
	case sentPing:
		return // an answer all the same (PING may be denied by an ACL): the server is there
	case sentUnsubscribe:
		if redirected {
			return // the slot has left the node, and the server dropped the names with it
		}
		// The server kept the names, and would go on delivering them: closing the connection
		// drops them all, and the names still wanted are subscribed again.
		r.lose(l, fmt.Errorf("actoredis: node %s: %s %q: %w", l.conn.Addr(), r.s.kind.uncommand(), head.names, se))
		return
	}
	r.unconfirmed -= head.left
	var held []string // the names of head still wanted here
	for _, n := range head.names {
		if _, ok := l.names[n]; ok {
			held = append(held, n)
			delete(l.names, n)
			delete(l.live, n)
		}
	}
	if len(held) == 0 {
		return
	}
	err := fmt.Errorf("actoredis: node %s: %s %q: %w", l.conn.Addr(), r.cmd, held, se)
	r.s.last = err
	switch {
	case !forGood(se):
		r.c.learn(r.rt, se)
	case r.ready != nil:
		r.tell(err)
		return
	case len(held) > 1:
		for _, n := range held {
			r.alone[n] = struct{}{}
		}
	default:
		delete(r.alone, held[0])
		if r.refusedFor(held[0], err) {
			return // an Add added it, and fails with the refusal
		}
		r.c.emit(Event{Type: EventError, Addr: l.conn.Addr(), Err: fmt.Errorf("%w (dropped from the subscription)", err)})
		if len(r.pending) == 0 && r.unconfirmed == 0 && r.carriesNothing() {
			r.ended = err
			r.s.end()
		}
		return
	}
	for _, n := range held { // tried again
		r.pending[n] = struct{}{}
	}
	r.later()
}

// stray reports whether rd, read while head was its connection's oldest command not fully
// answered, answers none. When a slot leaves a node, the server drops the shard channels of that
// slot with the frames that also answer SUNSUBSCRIBE; a Remove's SUNSUBSCRIBE it reads after that
// gets a MOVED, but its frame has already been counted as its answer, and the MOVED meets a later
// command. It answers none if that is a PING (never redirected) or names another slot; one of its
// slot it counts for, as that command's own MOVED (the slot has gone) comes next and meets the
// one after.
func (r *subRun) stray(head *sent, rd resp.Redirect) bool {
	return r.s.kind == subShard && (head.kind == sentPing || GetSlot(head.names[0]) != rd.Slot)
}

// carriesNothing reports whether no connection carries a name.
func (r *subRun) carriesNothing() bool {
	for _, l := range r.links {
		if len(l.names) > 0 {
			return false
		}
	}
	return true
}

// forGood reports whether a refusal to subscribe will not pass by trying again: the user may not
// (NOPERM), or the server does not take the command as sent (ERR: an unknown command...).
func forGood(se *resp.Error) bool {
	return se.Prefix == "NOPERM" || se.Prefix == "ERR"
}
