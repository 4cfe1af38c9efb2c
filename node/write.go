package node

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// The write path: the actor encodes each command it takes into one batch, writes as much of it as
// the reader's queue has room for in one write, and hands the written requests to the connection's
// reader; the rest waits batched (room, writeUnsent).

// encode appends r to the write batch, unless it was cancelled meanwhile.
func (a *nodeActor) encode(r *Request) {
	if givenUp(r) {
		failGivenUp(r) // never written
		return
	}
	start := len(a.wbuf)
	if r.Asking {
		a.wbuf = append(a.wbuf, "*1\r\n$6\r\nASKING\r\n"...)
	}
	var err error
	a.wbuf, err = resp.AppendCommand(a.wbuf, r.Args...)
	for _, more := range r.More {
		if err == nil {
			a.wbuf, err = resp.AppendCommand(a.wbuf, more...)
		}
	}
	if err != nil {
		a.wbuf = a.wbuf[:start]
		r.Fail(commandError(a.opts.Addr, r.Name(), err))
		return
	}
	a.batch = append(a.batch, r)
	a.starts = append(a.starts, start)
}

// flush writes the batch, in one write as far as there is room, and hands the written requests to
// the reader. It never waits: what the reader's queue has no room for (fifoSize requests due)
// stays batched, unwritten, until the reader has made room (see room), so the actor keeps taking
// messages, and its ticks keep its deadlines, while a server is slow.
func (a *nodeActor) flush() {
	for len(a.batch) > 0 && a.c != nil {
		c := a.c
		if c.cut {
			return // behind a write cut short: see writeUnsent
		}
		if c.lost.Load() {
			// The reader found the connection failed (the server closed it: its idle timeout, a
			// CLIENT KILL) and reported it: the batch waits, unwritten, for the next connection,
			// not written into this one to fail as may-have-run. (A write that reaches the server
			// as it closes the connection is dropped unread, and fails so all the same.)
			return
		}
		// On a parked connection no one was reading: a server's close (or a reply to no command)
		// is found now, before the batch is written into it, and the batch waits for the next
		// connection.
		if err := c.probe(false); err != nil {
			a.drop(err)
			return
		}
		n := a.room(c)
		if n == 0 {
			return
		}
		now := time.Now()
		if a.dueIn(a.batch[:n], now) {
			a.unbatchDue(now) // room stays for n: what moved up had been behind them
			if n = min(n, len(a.batch)); n == 0 {
				continue
			}
		}
		a.write(c, n, now)
	}
	if a.closing != nil {
		a.closeWhenWritten()
	}
}

// write writes the first n requests of the batch, hands them to the reader, and leaves the rest
// batched; a failed write drops the connection, and what it did not write waits for the next.
func (a *nodeActor) write(c *conn, n int, now time.Time) {
	end := len(a.wbuf)
	if n < len(a.batch) {
		end = a.starts[n]
	}
	replies := 0
	for _, r := range a.batch[:n] {
		replies += r.replies()
		if r.holdsFor > 0 {
			// The server answers nothing behind a WAIT until it returns (see oldestDue). Only the
			// actor moves expected: it still counts the replies before this batch.
			c.waits = append(c.waits, heldWait{upTo: c.expected.Load() + int64(replies), hold: r.holdsFor, at: now})
		}
	}
	c.expected.Add(int64(replies))
	limit := a.opts.CommandTimeout
	if c.resumable {
		limit = a.tickEvery
	}
	_ = c.nc.SetWriteDeadline(now.Add(limit))
	wrote, err := c.nc.Write(a.wbuf[:end])
	written, handed := n, false
	if err != nil {
		written = 0
		for written < n && a.starts[written] < wrote {
			written++ // begun, at least
		}
	}
	if err != nil && c.resumable && errors.Is(err, os.ErrDeadlineExceeded) {
		// The server takes nothing more for now (paused, or far behind). The requests begun are
		// the reader's, and the rest of the last one is written at the node's ticks
		// (writeUnsent), before anything else; those not begun stay batched, unwritten. The
		// actor goes on meanwhile, its clock with it.
		rest := end
		if written < n {
			rest = a.starts[written]
		}
		if unsent := a.wbuf[wrote:rest]; len(unsent) > keepBufBytes {
			// A large value's rest: the batch's buffer itself, not a copy (see unbatch).
			c.unsent, handed = unsent[:len(unsent):len(unsent)], true
		} else {
			c.unsent = append(c.unsent, unsent...)
		}
		c.cut = true
		a.unexpect(c, a.batch[written:n])
		n, end, err = written, rest, nil
	}
	if err != nil {
		err = timedOut(err)
	}
	if written > 0 {
		a.watchLate(now, a.batch[:written])
		// Counted before the reader can complete them, so a caller that got its reply sees it
		// counted.
		a.stats.writes.Add(1)
		a.stats.commands.Add(uint64(written))
		for _, r := range a.batch[:written] {
			c.fifo <- r // room: only the actor adds to fifo, and room said it had so much
		}
		c.kick() // a parked reader has replies to read (unless a lent caller holds the token)
		// After the write, which may have waited up to a tick: the stall clock of its replies
		// starts once their bytes were all taken (or cut short).
		a.lastActive, c.wroteAt = a.ticks, time.Now()
	}
	if err != nil {
		// What was not written goes back to the front of the queue for the next connection.
		a.offline = append(append([]*Request(nil), a.batch[written:]...), a.offline...)
		a.resetBatch()
		a.drop(err)
		return
	}
	a.unbatch(n, end, handed)
}

// unexpect takes back the replies write counted for requests it did not write after all (and the
// WAITs among them): none of their replies can come.
func (a *nodeActor) unexpect(c *conn, unwritten []*Request) {
	replies := 0
	for _, r := range unwritten {
		replies += r.replies()
	}
	upTo := c.expected.Add(-int64(replies))
	for len(c.waits) > 0 && c.waits[len(c.waits)-1].upTo > upTo {
		c.waits = c.waits[:len(c.waits)-1]
	}
}

// writeUnsent goes on with a write cut short by its deadline (see write), for up to a tick, and
// flushes the batch behind it once it is done. Called at the node's ticks: between them, a
// connection the server takes no more of is not written to.
func (a *nodeActor) writeUnsent(now time.Time) {
	c := a.c
	if c == nil || !c.cut {
		return
	}
	if len(c.unsent) > 0 {
		_ = c.nc.SetWriteDeadline(now.Add(a.tickEvery))
		wrote, err := c.nc.Write(c.unsent)
		c.unsent = c.unsent[wrote:] // not moved down: a large value's rest, copied at every tick, cost more than its write
		if wrote > 0 {
			c.movedAt = now // the server takes it, slowly: no stall (see tick)
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return // the rest at the next tick
		case err != nil:
			a.drop(err)
			return
		}
	}
	c.unsent, c.cut = nil, false
	a.flush()
}

// timedOut says a write past its deadline is a timeout (ErrTimeout), not a bare i/o error.
func timedOut(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (writing: %w)", ErrTimeout, err)
	}
	return err
}

// room reports how many of the batch's requests the reader's queue has room for. When it has not
// room for all of them, the reader is asked to say when it has emptied half of the queue
// (conn.pop), and until it does, nothing more is written: what waits goes in writes of half a
// queue, not of the few places freed since the last.
func (a *nodeActor) room(c *conn) int {
	if c.roomWanted.Load() {
		return 0
	}
	free := cap(c.fifo) - len(c.fifo)
	if free >= len(a.batch) {
		return len(a.batch)
	}
	c.roomWanted.Store(true)
	// The reader may have come down to half before it could see the flag: it will not say so.
	if len(c.fifo) <= fifoSize/2 && c.roomWanted.CompareAndSwap(true, false) {
		free = cap(c.fifo) - len(c.fifo)
	}
	return min(free, len(a.batch))
}

// unbatch takes the first n requests, the first end bytes, out of the batch: written. When the
// connection was handed the buffer's bytes before end (the rest of a write cut short), the bytes
// after it move to a new buffer, and the handed one is the connection's alone.
func (a *nodeActor) unbatch(n, end int, handed bool) {
	if n == len(a.batch) {
		a.resetBatch()
		return
	}
	left := copy(a.batch, a.batch[n:])
	clear(a.batch[left:])
	copy(a.starts, a.starts[n:])
	a.batch, a.starts = a.batch[:left], a.starts[:left]
	for i := range a.starts {
		a.starts[i] -= end
	}
	if handed {
		// A buffer of their own for the requests left: a slice of the handed one past the rest
		// would keep the whole of it alive for as long as the batch stayed small.
		a.wbuf = append(make([]byte, 0, max(len(a.wbuf)-end, 4096)), a.wbuf[end:]...)
		return
	}
	a.wbuf = a.wbuf[:copy(a.wbuf, a.wbuf[end:])]
}

// due reports whether a batched request must not be written any more: its caller gave up or its
// context ended (as encode checks, again: it may have waited for room), its deadline (Until) has
// come, or it has waited longer than the command timeout. The request lent right now (lentNow) is
// written all the same: its caller reads its reply (see lendRead). Neither the READONLY sync
// (syncReadOnly) nor a health check has an Until; the sync has no expiry either.
func (a *nodeActor) due(r *Request, now time.Time) bool {
	return r != a.lentNow && (givenUp(r) || a.expired(r, now))
}

// givenUp reports whether r's caller gave up on it, or its context ended: it is not to be written.
func givenUp(r *Request) bool { return r.IsDone() || r.Ctx != nil && r.Ctx.Err() != nil }

// failGivenUp fails a request givenUp says is not to be written: with its context's error, unless
// its caller gave up (it has its own).
func failGivenUp(r *Request) {
	if !r.IsDone() {
		r.Fail(r.Ctx.Err())
	}
}

// expired reports whether an unwritten request has waited longer than the command timeout, or is
// past its own deadline (Until).
func (a *nodeActor) expired(r *Request, now time.Time) bool {
	return r.expires > 0 && r.expires <= a.ticks || !r.Until.IsZero() && !now.Before(r.Until)
}

// dueIn reports whether any of batch is due.
func (a *nodeActor) dueIn(batch []*Request, now time.Time) bool {
	for _, r := range batch {
		if a.due(r, now) {
			return true
		}
	}
	return false
}

// unbatchDue fails the batched requests that are due, unwritten, and takes their commands out of
// the write buffer: a request that reached the node past its deadline (routed again late in its
// life), or one that waited for room on the reader's queue past it.
func (a *nodeActor) unbatchDue(now time.Time) {
	kept, end := 0, 0
	for i, r := range a.batch {
		from, to := a.starts[i], len(a.wbuf)
		if i+1 < len(a.batch) {
			to = a.starts[i+1]
		}
		if a.due(r, now) {
			a.failUnwritten(r)
			continue
		}
		copy(a.wbuf[end:], a.wbuf[from:to])
		a.batch[kept], a.starts[kept] = r, end
		kept, end = kept+1, end+to-from
	}
	clear(a.batch[kept:])
	a.batch, a.starts, a.wbuf = a.batch[:kept], a.starts[:kept], a.wbuf[:end]
	if kept == 0 {
		a.resetBatch()
	}
}

// failUnwritten fails a due request (see due), which is not written.
func (a *nodeActor) failUnwritten(r *Request) {
	if givenUp(r) {
		failGivenUp(r)
		return
	}
	// Not given back to its Owner: its time is up. The Owner says what it met before, as for a
	// late reply (expireLate).
	err := commandError(a.opts.Addr, r.Name(), ErrTimeout)
	if lo, ok := r.Owner.(LateOwner); ok {
		if say := lo.Late(r); say != nil {
			err = say(err)
		}
	}
	r.Future.Fail(err)
}

// closeWhenWritten lets a closing node's reader end once the replies due are in, when nothing is
// left to write: a batch waiting for room on the reader's queue is written first.
func (a *nodeActor) closeWhenWritten() {
	c := a.c
	switch {
	case c == nil:
		a.finishClose()
	case len(a.batch) > 0 || c.cut: // flush comes back once they are written
	default:
		c.closing.Store(true)
		c.unhold(nil) // a reply set aside for a Send's Await is the reader's now (hold looks at closing)
		if c.answered.Load() == c.expected.Load() {
			a.finishClose() // nothing due; the reader may be parked in a read
		}
	}
}

func (a *nodeActor) resetBatch() {
	clear(a.batch)
	a.batch, a.starts = a.batch[:0], a.starts[:0]
	if cap(a.batch) > keepBatch { // a burst's: not kept for the client's life
		a.batch, a.starts = nil, nil
	}
	if cap(a.wbuf) > keepBufBytes {
		a.wbuf = nil
	}
	a.wbuf = a.wbuf[:0]
}
