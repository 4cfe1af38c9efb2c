package api

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// ScanOptions filter a Scan; the zero value scans every key.
type ScanOptions struct {
	// Match keeps the keys matching this glob-style pattern (SCAN's MATCH); "" keeps every key.
	Match string
	// Type keeps the keys holding a value of this type ("string", "list", "hash", "set", "zset",
	// "stream"...; SCAN's TYPE); "" keeps every type.
	Type string
	// Count is how many entries each SCAN call looks at (its COUNT hint, not a limit on what it
	// returns); 0 leaves it to the server (10). A negative Count makes Scan yield a *ConfigError,
	// with nothing sent.
	Count int
}

// maxRescans is how many times one slot may have to be scanned again because it moved, before
// Scan gives up on it.
const maxRescans = 16

// Scan returns an iterator over the keys of the whole cluster, each master scanned in turn with
// SCAN (cursor by cursor, as the loop asks for more) and a key yielded with a nil error. It stops
// at the first error, yielded with an empty key: ctx ended (looked at before each key), the
// client closed, a server's refusal (NOPERM...), a reply past Limits, a slot that had to be
// scanned again 16 times (the cluster kept changing under it), or no progress for CommandTimeout
// of waiting on the servers (no SCAN reply, or none further into a node than before: a node down
// and not replaced, a slot no node serves; the error matches ErrTimeout and names what it last
// met). The time the loop takes over its keys is not counted.
//
// As with SCAN on one server, every key that exists from the start of the loop to its end and
// matches opts is yielded, and a key may be yielded more than once. This holds across failovers
// and resharding: a node that fails mid-scan is scanned again from its start on the master that
// replaced it (the keys it had yielded come again), and a slot that moves while its master is
// scanned is scanned again where it went; one left migrating is looked for on both nodes (the
// one it goes to may be a master with no slots yet, outside the client's map); a master that took
// a slot during its scan (one may have left and come back) is scanned again. For that Scan asks
// each master, with CLUSTER NODES, which slots it serves and its config epoch before and after
// its scan: a user denied CLUSTER NODES gets the refusal. A slot that left a master and came back
// within a moment, during its scan, may not change that epoch (Redis bumps it only when the node
// does not hold the highest it knows), and the keys its cursor passed while the slot was away
// are then missed. Keys added or removed during the loop may
// or may not be yielded. Breaking out of the loop ends the scan; nothing runs in the background.
func (c *Cluster) Scan(ctx context.Context, opts ScanOptions) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		s := &scanner{c: c, ctx: ctx, opts: opts, yield: yield, follow: map[string]*importer{}}
		if err := s.run(); err != nil && !errors.Is(err, errScanStopped) {
			yield("", err)
		}
	}
}

var (
	// errScanStopped: the loop broke out; yield must not be called again.
	errScanStopped = errors.New("scan stopped by its loop")
	// errScanMoving: a slot moved or lost its node maxRescans times.
	errScanMoving = errors.New("actoredis: SCAN: a slot kept moving")
)

// scanner is the state of one Scan: the slots still to cover, on their owner (pending) or on
// the node a slot was migrating to when its owner's scan ended (follow, by node id).
type scanner struct {
	c       *Cluster
	ctx     context.Context
	opts    ScanOptions
	yield   func(string, error) bool
	pending slotSet
	follow  map[string]*importer
	rescans [slotmap.NumSlots]uint8
	// pages counts the SCAN replies of the current step; called is how long its commands took,
	// all of them and (afterPage) those since its last page.
	pages     int
	called    time.Duration
	afterPage time.Duration
}

// importer is a node slots were migrating to when their owner's scan ended, to be scanned for
// them; addr is the address the cluster announces it by, for a node the map does not hold (a
// master with no slots yet).
type importer struct {
	addr  string
	slots slotSet
}

func (s *scanner) run() error {
	if s.opts.Count < 0 {
		return &ConfigError{Field: "ScanOptions.Count", Reason: "must not be negative"}
	}
	for i := range s.pending {
		s.pending[i] = ^uint64(0)
	}
	// waited is how long the commands of the failed steps since the last that succeeded or got
	// further than any before (best pages) took, and the backoffs between them: the time without
	// progress, which the loop's own work does not count in.
	var waited time.Duration
	best := 0
	for tries := 0; ; tries++ {
		if err := ended(s.ctx); err != nil {
			return err
		}
		rt := s.c.run.Load()
		if rt == nil || s.c.state.Load() != stateConnected {
			return fmt.Errorf("actoredis: SCAN: %w", s.c.notRunning())
		}
		if s.pending.empty() && len(s.follow) == 0 {
			return nil
		}
		s.pages, s.called, s.afterPage = 0, 0, 0
		err := s.step(rt)
		if err == nil {
			waited, best, tries = 0, 0, 0
			continue
		}
		if !scanRetryable(err) {
			return err
		}
		if s.pages > best { // further than before: no progress since its last page only
			waited, best, tries = s.afterPage, s.pages, 0
		} else {
			waited += s.called
		}
		if waited >= s.c.opts.CommandTimeout {
			return fmt.Errorf("actoredis: SCAN: %w (last: %w)", ErrTimeout, err)
		}
		rt.smap.Refresh()
		backoff := dispatcher.Backoff(tries + 1)
		waited += backoff
		if s.c.pause(s.ctx, backoff) != nil {
			continue // ctx ended, or Close: the loop's top says which
		}
	}
}

// step scans one node: a node slots were migrating to, when one is due, else the master of the
// first pending slot that has one in the current map.
func (s *scanner) step(rt *running) error {
	snap := rt.smap.Snapshot()
	for id, imp := range s.follow {
		ref := byID(snap, id)
		if ref == nil && imp.addr != "" { // a master with no slots yet: outside the map
			learned, release, err := rt.smap.Learn(s.ctx, imp.addr)
			if errors.Is(err, slotmap.ErrMapClosed) {
				return fmt.Errorf("actoredis: SCAN: node %s: %w: %w", imp.addr, ErrClientClosed, err)
			}
			if err != nil {
				return err
			}
			defer release()
			ref = learned
		}
		if ref == nil {
			return fmt.Errorf("%w: node %s, which slots were migrating to, has no address", errScanNoNode, id)
		}
		delete(s.follow, id)
		err := s.scanImporter(&Node{ref: ref, c: s.c}, &imp.slots)
		if err != nil { // to be scanned again, unless it was given slots to follow meanwhile
			s.followTo(id, imp.addr, &imp.slots)
		}
		return err
	}
	first := s.pending.first(func(slot int) bool { return snap.Master(slot) != nil })
	if first < 0 {
		return fmt.Errorf("%w: slot %d", ErrNoRoute, s.pending.first(nil))
	}
	return s.scanOwner(&Node{ref: snap.Master(first), c: s.c})
}

// errScanNoNode: a node Scan was to visit is not in the client's map (it may be on the next).
var errScanNoNode = errors.New("actoredis: SCAN: node not in the map")

// scanOwner scans master n for the pending slots it serves, by its own account before and after.
// A slot it still serves after is covered; one it is migrating then is followed to where it
// goes; one it no longer serves stays pending, for the node serving it now. When n's config epoch
// changed meanwhile (it took a slot: one may have left and come back), none is covered.
func (s *scanner) scanOwner(n *Node) error {
	before, err := s.view(n)
	if err != nil {
		return err
	}
	var want slotSet
	s.pending.each(func(slot int) {
		if before.owned.has(slot) {
			want.add(slot)
		}
	})
	if want.empty() {
		return fmt.Errorf("%w: %s serves none of the slots the map gives it", errScanNoNode, n.Addr())
	}
	after, stable, err := s.scanViewed(n, before, &want)
	if err != nil || !stable {
		return err
	}
	want.each(func(slot int) {
		if to, ok := after.migrating[slot]; ok {
			s.pending.del(slot)
			s.followSlot(after, n, to, slot)
		} else if after.owned.has(slot) {
			s.pending.del(slot)
		}
	})
	return nil
}

// scanImporter scans n for slots that were migrating to it when their owner's scan ended: the
// keys that had left the owner by then are on n, as long as n is still importing the slot, or
// serves it now and is not moving it on, and has taken no slot meanwhile (its config epoch is
// the same). Otherwise the slot is scanned again from its owner.
func (s *scanner) scanImporter(n *Node, slots *slotSet) error {
	before, err := s.view(n)
	if err != nil {
		return err
	}
	after, stable, err := s.scanViewed(n, before, slots)
	if err != nil || !stable {
		return err
	}
	var lost slotSet
	slots.each(func(slot int) {
		if to, ok := after.migrating[slot]; ok {
			s.followSlot(after, n, to, slot)
		} else if !after.importing.has(slot) && !after.owned.has(slot) {
			lost.add(slot)
		}
	})
	s.again(&lost)
	return nil
}

// scanViewed scans n for slots, then asks n's view again. When n's config epoch changed since
// before (n took a slot during its scan: perhaps one that left it and came back, whose keys were
// away while the cursor passed them), it puts slots back to be scanned again and says stable
// false.
func (s *scanner) scanViewed(n *Node, before selfView, slots *slotSet) (after selfView, stable bool, err error) {
	if err = s.keys(n, slots); err != nil {
		return selfView{}, false, err
	}
	if after, err = s.view(n); err != nil {
		return selfView{}, false, err
	}
	if after.epoch != before.epoch {
		s.again(slots)
		return after, false, nil
	}
	return after, true, nil
}

// followSlot has slot scanned next on the node with id to, which n's view names.
func (s *scanner) followSlot(view selfView, n *Node, to string, slot int) {
	var one slotSet
	one.add(slot)
	s.followTo(to, view.addrOf(to, n.ref.Info.Host), &one)
}

// followTo adds slots to those to scan on the node with id id, announced at addr.
func (s *scanner) followTo(id, addr string, slots *slotSet) {
	imp := s.follow[id]
	if imp == nil {
		imp = &importer{addr: addr}
		s.follow[id] = imp
	}
	if imp.addr == "" {
		imp.addr = addr
	}
	for i, w := range slots {
		imp.slots[i] |= w
	}
}

// again puts slots back to be scanned from their owner, at most maxRescans times each (see
// tooOften).
func (s *scanner) again(slots *slotSet) {
	slots.each(func(slot int) {
		s.pending.add(slot)
		s.rescans[slot]++
	})
}

// keys runs SCAN on n to its end, yielding the keys whose slot is in want.
func (s *scanner) keys(n *Node, want *slotSet) error {
	if err := s.tooOften(want); err != nil {
		return s.named(n, "SCAN", err)
	}
	args := []any{"SCAN", "0"}
	if s.opts.Match != "" {
		args = append(args, "MATCH", s.opts.Match)
	}
	if s.opts.Count > 0 {
		args = append(args, "COUNT", s.opts.Count)
	}
	if s.opts.Type != "" {
		args = append(args, "TYPE", s.opts.Type)
	}
	cursor := "0"
	for {
		args[1] = cursor
		v, err := s.do(n, Cmd(args...))
		if err != nil {
			return s.named(n, "SCAN", err)
		}
		s.pages++
		s.afterPage = 0
		if !v.Kind().IsAggregate() || v.Len() != 2 || !v.Index(1).Kind().IsAggregate() {
			return s.named(n, "SCAN", fmt.Errorf("%w: %s", resp.ErrUnexpectedType, v.Kind()))
		}
		page := v.Index(1)
		for i := range page.Len() {
			k := page.Index(i).String()
			if !want.has(GetSlot(k)) {
				continue
			}
			if err := ended(s.ctx); err != nil {
				return err // ctx ended (in the loop's body, say): not the rest of the page
			}
			if !s.yield(k, nil) {
				return errScanStopped
			}
		}
		if cursor = v.Index(0).String(); cursor == "0" {
			return nil
		}
		if err := ended(s.ctx); err != nil {
			return err
		}
	}
}

// tooOften fails a scan of slots one of which has had to be scanned again maxRescans times.
func (s *scanner) tooOften(slots *slotSet) error {
	var err error
	slots.each(func(slot int) {
		if err == nil && s.rescans[slot] >= maxRescans {
			err = fmt.Errorf("%w: slot %d scanned again %d times (it moved, or lost its node, or its master "+
				"took slots during its scan, which puts back every slot of it)", errScanMoving, slot, maxRescans)
		}
	})
	return err
}

// view asks n which slots it serves, migrates and imports.
func (s *scanner) view(n *Node) (selfView, error) {
	v, err := s.do(n, Cmd("CLUSTER", "NODES"))
	if err == nil {
		var view selfView
		if view, err = parseSelfView(v); err == nil {
			return view, nil
		}
	}
	return selfView{}, s.named(n, "CLUSTER NODES", err)
}

// do runs cmd on n, adding the time it took to the step's.
func (s *scanner) do(n *Node, cmd Command) (resp.Value, error) {
	start := time.Now()
	v, err := n.Do(s.ctx, cmd)
	took := time.Since(start)
	s.called += took
	s.afterPage += took
	return v, err
}

// named names n and the command in err; an error that names the node already gets the
// command's full name only (the node's errors give its first word).
func (s *scanner) named(n *Node, cmd string, err error) error {
	switch {
	case errors.Is(err, ErrClientClosed) || errors.Is(err, ErrNodeGone): // from Node.Do: named
		return err
	case node.NamesNode(err):
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return fmt.Errorf("actoredis: node %s: %s: %w", n.Addr(), cmd, err)
}

// scanRetryable reports whether a failed step may succeed on a later map: the node down or gone,
// a map behind the cluster, a transient server state. A refusal, ctx ended or the client closed
// end the scan.
func scanRetryable(err error) bool {
	if errors.Is(err, errScanStopped) || errors.Is(err, errScanMoving) || errors.Is(err, ErrClientClosed) ||
		errors.Is(err, slotmap.ErrMapClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, resp.ErrUnexpectedType) {
		return false
	}
	var pe *resp.ProtocolError // a reply past Limits: the same again next time
	if errors.As(err, &pe) {
		return false
	}
	if se, ok := node.ReplyError(err); ok {
		return node.Returnable(se)
	}
	return true // a connection's failure (a refused handshake too), or a node closed
}

// byID returns the node of snap with cluster id id, or nil.
func byID(snap *slotmap.Snapshot, id string) *slotmap.Ref {
	for _, r := range snap.Nodes() {
		if r.Info.ID == id {
			return r
		}
	}
	return nil
}
