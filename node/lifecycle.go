package node

import (
	"fmt"
	"sync/atomic"
	"time"
)

// The node's clock: a tick every tickEvery expires offline commands and refuses batched ones past
// their deadline, detects a connection that stopped answering, finishes a write cut short
// (writeUnsent), sends health-check PINGs, and ends a graceful close past its deadline.

func (a *nodeActor) startTicker() {
	root, self, every := a.root, a.self, a.tickEvery
	a.timer = time.AfterFunc(every, func() { root.Send(self, tickMessage) })
}

func (a *nodeActor) onTick() {
	if a.state == stateClosed {
		return
	}
	a.ticks++
	a.timer.Reset(a.tickEvery)
	a.expireOffline()
	if len(a.offline) > 0 && a.stats.downFor(time.Now()) >= AnywherePatience {
		// A dial that neither connects nor fails (a frozen server takes the TCP connection and
		// never answers the handshake) would hold them until their deadline.
		a.releaseAnywhere(errNoConnection)
	}
	a.expireLate()
	if len(a.batch) > 0 { // waiting for room on the reader's queue (room), or behind a cut write
		if now := time.Now(); a.dueIn(a.batch, now) {
			a.unbatchDue(now)
			a.flush() // what is left, if there is room; and a closing node's close, if nothing is
		}
	}
	if a.closing != nil && time.Now().After(a.closing.deadline) {
		if a.c != nil {
			a.drop(commandError(a.opts.Addr, "close", ErrClosed))
		} else {
			a.finishClose()
		}
		return
	}
	c := a.c
	if c == nil {
		return
	}
	c.unhold(nil) // a Send not awaited within a tick: its reply is the reader's
	answered := c.answered.Load()
	// A reply due for longer than the command timeout, whether the server answers nothing or
	// answers a backlog too slowly, ends the connection: what waits on it fails with ErrTimeout. It
	// was written at or before the time of its mark (its write's), so a full timeout has passed,
	// and at most a tick more; plus the holds (WAIT, Slower) of the commands the server may have
	// run before sending it (see oldestDue). By the clock, not by the ticks counted: a busy mailbox
	// makes them late (140 ms apart, not 100, in a review: a 1 s timeout fired at 1.45 s).
	now := time.Now()
	since, held, due := c.oldestDue(now, answered)
	if due && now.Sub(since) >= a.opts.CommandTimeout+held {
		a.opts.Logger.Warn("node: a reply due for longer than the command timeout; reconnecting", "addr", a.opts.Addr)
		a.drop(ErrTimeout)
		return
	}
	// Stalled: no reply for that long either, nor a byte of one, nor a byte of a write cut short
	// taken (a server answering, however slowly, or moving a large value, is not frozen).
	if b := c.bytesRead; b != nil {
		if n := b.Load(); n != c.readSeen {
			c.readSeen, c.movedAt = n, now
		}
	}
	quiet := later(since, later(c.seenAt, c.movedAt))
	a.noteStall(due && now.Sub(quiet) >= stallAfter(a.opts.CommandTimeout)+held)
	a.writeUnsent(now)
	if a.c != c {
		return // the write failed: dropped
	}
	if c.expected.Load() > answered && answered == a.lastAnswered {
		return // replies due and none arriving: nothing to probe or ping behind them
	}
	a.lastAnswered = answered
	// No one reads a parked connection: its server's close, or a reply to no command, is found here
	// if no command finds it first.
	if err := c.probe(true); err != nil {
		a.drop(err)
		return
	}
	if a.opts.HealthCheck > 0 && time.Duration(a.ticks-a.lastActive)*a.tickEvery >= a.opts.HealthCheck {
		ping := NewRequest("PING")
		ping.expires = a.ticks + int64(a.opts.CommandTimeout/a.tickEvery) + 1
		a.encode(ping)
		a.flush()
	}
}

// expireOffline fails the queued commands that waited longer than the command timeout, or are
// past their own deadline (Until: a command redirected or retried late in its life, queued when
// it came, or taken back from a batch the connection failed before writing).
func (a *nodeActor) expireOffline() {
	now := time.Now()
	var err error = ErrTimeout
	if a.dialErr != nil {
		// Why the node could not take it: a refused password, a denied READONLY, a TLS error...
		err = fmt.Errorf("%w; the last connect failed: %w", err, a.dialErr)
	}
	if a.state == stateDialing {
		// A connect not answered yet: a server, or something on the way, that holds the
		// handshake (ConnectTimeout bounds it).
		err = fmt.Errorf("%w; still connecting, for %v (ConnectTimeout %v)", err,
			now.Sub(a.dialedAt).Round(time.Millisecond), a.opts.ConnectTimeout)
	}
	a.failOfflineIf(func(r *Request) bool { return a.expired(r, now) }, err)
}

// failOfflineIf fails, unwritten with err, the queued commands fails says so of, and keeps the
// rest queued in their order.
func (a *nodeActor) failOfflineIf(fails func(*Request) bool, err error) {
	kept := a.offline[:0]
	for _, r := range a.offline {
		if fails(r) {
			r.Fail(&ConnError{Addr: a.opts.Addr, Command: r.Name(), Err: err})
			continue
		}
		kept = append(kept, r)
	}
	clear(a.offline[len(kept):])
	a.offline = kept
}

// lateMarks numbers the deadline watches of every node (lateWatch.mark).
var lateMarks atomic.Uint64

// lateClaimed is Request.watched once its node has claimed it to fail it at its deadline: it is
// not given back to its Owner any more, and nothing else completes it (see giveBack). No watch is
// numbered so.
const lateClaimed = ^uint64(0)

// watchLate marks the written requests whose deadline (Until) comes before the stall detection
// would fail them (a command timeout after the write, or its Slower if longer; checked at each
// tick): a command redirected or retried late in its life. expireLate fails them at their
// deadline if no reply came, and the connection stays. They are pinned and marked before the
// reader can see them, so their Futures are never reused while the actor still holds them, and a
// request the reader gives back to its Owner (a TRYAGAIN, a MOVED) is known to have left.
func (a *nodeActor) watchLate(now time.Time, written []*Request) {
	soon := now.Add(a.opts.CommandTimeout - a.tickEvery)
	for _, r := range written {
		// A Slower command may take longer than the command timeout: it is watched only when its
		// deadline comes before that, as another is (retried late in its life).
		if !r.Until.IsZero() && r.Until.Before(soon.Add(max(0, r.holdsFor-a.opts.CommandTimeout))) {
			r.pinned = true
			w := lateWatch{r: r, mark: lateMarks.Add(1)}
			r.watched.Store(w.mark)
			if lo, ok := r.Owner.(LateOwner); ok {
				w.say = lo.Late(r) // now, while the actor holds r: its Owner may have it back later
			}
			a.late = append(a.late, w)
		}
	}
}

// lateWatch is a request whose deadline the actor watches (see watchLate), with what its Owner
// says of it when it fails late (nil: nothing more).
type lateWatch struct {
	r    *Request
	mark uint64 // r.watched while r is on the connection, this watch's
	say  func(err error) error
}

// expireLate fails the watched requests whose deadline has passed with no reply (ErrTimeout; they
// were written, so they may have run), and forgets those that are done or have left the
// connection: given back to their Owner, which may have sent them elsewhere, or written again,
// watched again. A late reply is dropped by the reader, as one to a cancelled command is.
func (a *nodeActor) expireLate() {
	if len(a.late) == 0 {
		return
	}
	now := time.Now()
	kept := a.late[:0]
	for _, w := range a.late {
		r := w.r
		switch {
		case r.IsDone() || r.watched.Load() != w.mark:
		case !now.Before(r.Until):
			// Not through the Owner: the request is still on the connection's queue, so it must not
			// be sent anywhere else; its deadline has passed anyway. Claimed first: a reader giving
			// it back to its Owner meanwhile (a TRYAGAIN just read) wins, and the Owner has it.
			err := commandError(a.opts.Addr, r.Name(), ErrLateReply)
			if w.say != nil {
				err = w.say(err)
			}
			if r.watched.CompareAndSwap(w.mark, lateClaimed) {
				r.Future.Fail(err)
			}
		default:
			kept = append(kept, w)
		}
	}
	clear(a.late[len(kept):])
	a.late = kept
}

// beginClose stops accepting commands, writes what is batched, fails what waits for a connection,
// and lets the reader finish the replies still due.
func (a *nodeActor) beginClose(m *closeRequest) {
	if a.closing != nil || a.state == stateClosed {
		close(m.done)
		return
	}
	a.closing = m
	a.failOffline(ErrClosed)
	// Then closeWhenWritten, once the batch is written. The reader reports readerDone after the
	// last reply, or the deadline ends it.
	a.flush()
}

func (a *nodeActor) finishClose() {
	a.shutdown(ErrClosed)
	if a.closing != nil {
		close(a.closing.done)
		a.closing = nil
	}
}

// shutdown releases everything the actor holds: its connection (the reader fails what was
// written), its timers, a dial in progress, and the commands not yet written (failed with err).
func (a *nodeActor) shutdown(err error) {
	if a.state == stateClosed {
		return
	}
	a.state = stateClosed
	if a.cancel != nil {
		a.cancel()
	}
	for _, t := range []*time.Timer{a.timer, a.retry} {
		if t != nil {
			t.Stop()
		}
	}
	a.detach(err)
	a.failOffline(err)
}

func (a *nodeActor) failOffline(err error) {
	a.failOfflineIf(func(*Request) bool { return true }, err)
}

// stallAfter is how long the oldest reply may be due, with no reply arriving, beyond the holds
// ahead of it, before the connection counts as stalled (Options.OnStall): half the command
// timeout, at most a second.
func stallAfter(commandTimeout time.Duration) time.Duration {
	return min(commandTimeout/2, time.Second)
}

// noteStall tells Options.OnStall when the connection starts or stops being stalled.
func (a *nodeActor) noteStall(stalled bool) {
	if stalled == a.stalled {
		return
	}
	a.stalled = stalled
	if a.opts.OnStall != nil {
		a.opts.OnStall(stalled)
	}
}
