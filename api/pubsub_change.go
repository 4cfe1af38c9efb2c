package api

import (
	"context"
	"fmt"
	"slices"
)

// Add subscribes the subscription to more names, of its kind: channels for Subscribe and
// SSubscribe, patterns for PSubscribe. Messages for them arrive on Messages too. It returns once
// the servers have confirmed every name (those it held already count as soon as they are
// confirmed), or fails when ctx ends or CommandTimeout passes first (ErrTimeout; an Add that needs
// a connection to a node the subscription has none to yet, an SSubscribe's channel of another
// shard, must have it opened within that too), or when a
// server refuses one for good (NOPERM...); a failed Add takes back the names it added, and
// leaves the others as they were; one waiting for a name that Remove takes out fails too. It
// fails with ErrEmptyCommand when given no name, and with ErrSubscriptionClosed once the
// subscription has ended. While an Add waits, the subscription holds up to 65,536 messages, not
// 1024, so that the confirmations behind them reach it: Add may be called from the goroutine
// reading Messages.
func (s *Subscription) Add(ctx context.Context, names ...string) error {
	cmd := s.kind.command()
	if err := s.kind.check(ctx, names); err != nil {
		return err
	}
	w := &addWait{done: make(chan error, 1)}
	bound, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	select {
	case s.changes <- func(r *subRun) { r.add(w, names) }:
	case <-s.done:
		return s.closedErr(cmd)
	case <-bound.Done():
		return boundEnded(ctx, cmd, nil)
	}
	select {
	case err := <-w.done:
		return err
	case <-s.done:
		return s.closedErr(cmd)
	case <-bound.Done():
	}
	// Given up: the goroutine takes back what w added, unless it has answered meanwhile.
	if !s.change(func(r *subRun) { r.finish(w, boundEnded(ctx, cmd, r.lastFailure())) }) {
		return s.closedErr(cmd)
	}
	select {
	case err := <-w.done:
		return err
	case <-s.done:
		return s.closedErr(cmd)
	}
}

// Remove unsubscribes the subscription from names (channels, or patterns for PSubscribe); those
// it does not hold are ignored. Messages for them the servers sent before they read the
// unsubscribe command, or that the subscription already holds, may still arrive on Messages. A
// subscription left with no names stays open, and Add may give it more. Remove fails with
// ErrSubscriptionClosed once the subscription has ended.
func (s *Subscription) Remove(names ...string) error {
	done := make(chan struct{})
	if !s.change(func(r *subRun) {
		r.remove(names, fmt.Errorf("actoredis: %s %q: removed while being added", r.cmd, names))
		close(done)
	}) {
		return s.closedErr(s.kind.uncommand())
	}
	select {
	case <-done:
		return nil
	case <-s.done:
		return s.closedErr(s.kind.uncommand())
	}
}

// change has the subscription goroutine run f; false once the subscription has ended.
func (s *Subscription) change(f func(r *subRun)) bool {
	select {
	case s.changes <- f:
		return true
	case <-s.done:
		return false
	}
}

// closedErr is the error of Add or Remove on an ended subscription (after done).
func (s *Subscription) closedErr(cmd string) error {
	if s.err != nil {
		return fmt.Errorf("actoredis: %s: %w: %w", cmd, ErrSubscriptionClosed, s.err)
	}
	return fmt.Errorf("actoredis: %s: %w", cmd, ErrSubscriptionClosed)
}

// addWait is an Add waiting for the servers' confirmations. Its fields are the subscription
// goroutine's, but done.
type addWait struct {
	// names are the names it waits for (those held and confirmed already are not); while there
	// are any, it is counted in adding, as the pump must take every message meanwhile
	names []string
	fresh []string   // of names, those it added: taken back if it fails
	left  int        // its names not yet confirmed
	over  bool       // answered
	done  chan error // answered once: nil, or why it failed
}

// add starts w: the names the subscription does not hold are subscribed, and w waits for those
// not yet confirmed.
func (r *subRun) add(w *addWait, names []string) {
	for _, n := range dedup(names) {
		l := r.linkOf(n)
		if l != nil {
			if _, live := l.live[n]; live {
				continue
			}
		} else if _, ok := r.pending[n]; !ok {
			r.pending[n] = struct{}{}
			w.fresh = append(w.fresh, n)
		}
		w.left++
		w.names = append(w.names, n)
		r.waiting[n] = append(r.waiting[n], w)
	}
	if w.left == 0 {
		r.finish(w, nil)
		return
	}
	r.adding.Add(1)
	select {
	case r.loosen <- struct{}{}:
	default: // the pump has yet to take the last one
	}
	r.place()
}

// dedup returns names sorted, each once, in a slice of its own.
func dedup(names []string) []string { return slices.Compact(slices.Sorted(slices.Values(names))) }

// linkOf returns the connection carrying name (subscribed, or written), or nil.
func (r *subRun) linkOf(name string) *link {
	for _, l := range r.links {
		if _, ok := l.names[name]; ok {
			return l
		}
	}
	return nil
}

// confirmedFor counts a server's confirmation of name for the Adds waiting for it.
func (r *subRun) confirmedFor(name string) {
	ws := r.waiting[name]
	delete(r.waiting, name)
	for _, w := range ws {
		if w.left--; w.left == 0 {
			r.finish(w, nil)
		}
	}
}

// refusedFor fails, with err, the Adds waiting for name, which a server refused for good (or
// Remove took out). It reports whether one of them had added it: then the Add's caller hears of
// the refusal, and the subscription did not lose a name it held.
func (r *subRun) refusedFor(name string, err error) (added bool) {
	ws := r.waiting[name]
	delete(r.waiting, name)
	for _, w := range ws {
		added = added || slices.Contains(w.fresh, name)
		r.finish(w, err)
	}
	return added
}

// finish answers w, once, and stops it waiting. A failed Add takes back the names it added,
// but those another Add waits for: they become that one's.
func (r *subRun) finish(w *addWait, err error) {
	if w.over {
		return
	}
	w.over = true
	if len(w.names) > 0 {
		r.adding.Add(-1)
	}
	for _, n := range w.names {
		if ws := slices.DeleteFunc(r.waiting[n], func(x *addWait) bool { return x == w }); len(ws) > 0 {
			r.waiting[n] = ws
		} else {
			delete(r.waiting, n)
		}
	}
	if err != nil {
		var back []string
		for _, n := range w.fresh {
			if others := r.waiting[n]; len(others) > 0 {
				others[0].fresh = append(others[0].fresh, n)
			} else {
				back = append(back, n)
			}
		}
		// No Add waits for back's names (see above): the error given remove reaches nobody.
		r.remove(back, fmt.Errorf("actoredis: %s: taken back, as an Add that failed had added it: %w", r.cmd, err))
	}
	w.done <- err
}

// remove drops names from the subscription: pending ones are forgotten; a connection left with
// no name is closed, and one that keeps others is sent the unsubscribe command. The Adds waiting
// for one of names fail with why.
func (r *subRun) remove(names []string, why error) {
	from := map[*link][]string{}
	for _, n := range dedup(names) {
		delete(r.pending, n)
		delete(r.alone, n)
		delete(r.movedFrom, n)
		if l := r.linkOf(n); l != nil {
			delete(l.names, n)
			delete(l.live, n)
			from[l] = append(from[l], n)
		}
		r.refusedFor(n, why)
	}
	for l, gone := range from {
		switch {
		case r.links[l.conn.Addr()] != l:
			// dropped meanwhile
		case len(l.names) == 0:
			r.drop(l)
		default:
			if err := r.unsubscribe(l, gone); err != nil {
				r.lose(l, err)
			}
		}
	}
}

// unsubscribe writes the unsubscribe commands for names on l: one per slot for shard channels,
// as for subscribing.
func (r *subRun) unsubscribe(l *link, names []string) error {
	cmd := r.s.kind.uncommand()
	bySlot := map[int][]string{}
	for _, n := range names {
		slot := r.s.kind.slot(n)
		bySlot[slot] = append(bySlot[slot], n)
	}
	for _, group := range bySlot {
		l.sent = append(l.sent, &sent{kind: sentUnsubscribe, names: group, left: len(group)})
		if err := l.conn.Write(append([]any{cmd}, toAny(group)...)...); err != nil {
			return err
		}
	}
	return nil
}
