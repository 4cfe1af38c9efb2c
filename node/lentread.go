package node

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// A connection's replies are read by its reader goroutine, which completes each request's Future
// and so wakes its caller: two goroutines woken per reply. When one caller at a time uses the
// client (Options.Alone), the reader instead parks while no reply is due, and a caller lent the node
// (Node.TryRun) reads its own reply on its goroutine: the reply wakes the caller directly.
//
// Who reads is the read token, rstate:
//
//	readActive  the reader goroutine reads (or is about to)
//	readParked  nobody reads; no reply is due; the reader waits on wake
//	readLent    a lent caller reads its reply; it hands the token back when done
//	readHeld    set aside for the lent caller of a request sent now and awaited later (a lone
//	            Send, Request.DeferRead): its Await reads the reply (readLent) unless anyone
//	            else hands the token to the reader first: a writer, the clock, Done, a close
//
// Only the holder reads the socket, moves answered, and receives from fifo. A writer that makes a
// reply due on a parked connection wakes the reader (kick); the reader, having parked, looks again
// for a reply due, so one of the two always sees the other.
const (
	readActive int32 = iota
	readParked
	readLent
	readHeld
)

// lentReadWait bounds a lent caller's wait for the whole of its reply. A reply slower than that is
// left to the reader goroutine, and the caller awaits its Future as any other does: its ctx then
// ends the wait. So a lent caller notices its ctx end within this much.
const lentReadWait = time.Millisecond

// probeAfter is how long a parked connection may sit unread before a lent caller peeks at it
// (check, a system call) before writing: a server that closed it meanwhile is found before
// the command is written into a dead socket, not after. A caller that sends its next command
// sooner (a loop) skips the peek; the reader goroutine, were it reading, would hardly have told
// the actor of the close any sooner.
const probeAfter = 50 * time.Microsecond

// mayPark reports whether the reader goroutine may stop reading: a caller alone in the client, no
// reply due, nothing buffered, and no push handler waiting for frames the server may send unasked.
func (c *conn) mayPark() bool {
	return c.alone != nil && c.onPush == nil && !c.closing.Load() && c.rd.Buffered() == 0 &&
		c.answered.Load() == c.expected.Load() && c.alone()
}

// park gives up the read token and waits until it is handed back. It returns at once if a reply
// came due (or the connection started closing) as it parked and no one else took the token.
func (c *conn) park() {
	c.rstate.Store(readParked)
	if c.readDue() && c.rstate.CompareAndSwap(readParked, readActive) {
		return
	}
	<-c.wake
}

// readDue reports whether a parked connection needs its reader: a reply due, or a close to finish.
func (c *conn) readDue() bool {
	return c.answered.Load() != c.expected.Load() || c.closing.Load()
}

// kick hands a parked or held connection's token back to the reader goroutine. Writers call it
// after making a reply due, and the actor after closing the connection; it does nothing while the
// reader or a lent caller reads.
func (c *conn) kick() {
	if c.rstate.Load() == readParked && c.rstate.CompareAndSwap(readParked, readActive) {
		c.wake <- struct{}{}
		return
	}
	c.unhold(nil)
}

// toReader hands the token, which the caller holds (lent to it, or just claimed), to the reader
// goroutine, parked on wake.
func (c *conn) toReader() {
	c.rstate.Store(readActive)
	c.wake <- struct{}{}
}

// hold sets the token, lent to the caller of r (just written, its reply due), aside for r's Await
// (Request.ReadHeld). A reply that came due meanwhile for someone else, or a close, is the
// reader's at once: a writer that saw the token lent did not kick it.
func (c *conn) hold(r *Request) {
	c.heldFor.Store(r)
	c.rstate.Store(readHeld)
	if c.expected.Load()-c.answered.Load() > 1 || c.closing.Load() {
		c.unhold(nil)
	}
}

// take claims the token held for r, to read r's reply on the caller's goroutine. A token taken
// back and held again for another request meanwhile is handed to the reader instead.
func (c *conn) take(r *Request) bool {
	if r.IsDone() || c.heldFor.Load() != r || !c.rstate.CompareAndSwap(readHeld, readLent) {
		return false
	}
	mine := c.heldFor.Swap(nil) == r // nil: the connection keeps no request reachable
	if !mine {
		c.toReader()
	}
	return mine
}

// unhold hands a held token to the reader goroutine: if it is held for r, or for anyone (nil).
func (c *conn) unhold(r *Request) {
	if c.rstate.Load() == readHeld && (r == nil || c.heldFor.Load() == r) &&
		c.rstate.CompareAndSwap(readHeld, readActive) {
		c.heldFor.Store(nil) // still the token's holder: no one holds it again before the reader parks
		c.wake <- struct{}{}
	}
}

// claim takes the read token of a parked connection for the actor (its clock, a write, or a lent
// caller's command: the actor lent, on the caller's goroutine). It checks the connection first
// (check) when always is set or the connection has been unread for probeAfter since the token was
// last handed on (quiet; a reader that parked read later than that, so the check is made at least
// as often as needed). When the connection cannot be used, claim leaves it parked and says why,
// and the actor drops it before writing.
func (c *conn) claim(always bool) (held bool, broken error) {
	if c.rstate.Load() != readParked || !c.rstate.CompareAndSwap(readParked, readLent) {
		return false, nil
	}
	if c.readDue() {
		// Caught in the window where whoever parked it has yet to look for a reply due (park,
		// endLent): what waits is a reply, not junk. It is the reader's.
		c.toReader()
		return false, nil
	}
	if always || c.quietFor() >= probeAfter {
		if err := c.check(); err != nil {
			c.rstate.Store(readParked)
			return false, err
		}
	}
	return true, nil
}

// probe is claim for a look only: the token is handed on at once, as a lent caller hands it on.
func (c *conn) probe(always bool) (broken error) {
	held, err := c.claim(always)
	if held {
		c.endLent()
	}
	return err
}

// check looks at a parked connection, with no reply due, for its token holder: nil when it is
// quiet or held only push frames (read and dropped, as the reader drops them without a handler; a
// push still arriving after settleWait is left to whoever reads next). Otherwise it says why the
// connection cannot be used: the end of the stream (over TLS the close_notify alert comes first),
// a socket or protocol error, or ErrUnsolicitedReply for a reply no command asked for. It may have
// read from the stream then: the connection is to be dropped.
func (c *conn) check() error {
	pending, err := c.peeker.peek()
	if err != nil || !pending {
		return err
	}
	deadline := time.Now().Add(settleWait)
	_ = c.nc.SetReadDeadline(deadline)
	defer func() { _ = c.nc.SetReadDeadline(time.Time{}) }()
	for {
		typ, err := c.rd.PeekType()
		switch {
		case err != nil:
			return unsolicited(err)
		case typ != '>':
			return ErrUnsolicitedReply
		}
		if err := c.rd.FillValue(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil // a push, still arriving
			}
			if !errors.Is(err, resp.ErrNotBuffered) {
				return err
			}
		}
		if _, err := c.rd.Read(); err != nil {
			return unsolicited(err)
		}
		if c.rd.Buffered() == 0 {
			if !time.Now().Before(deadline) {
				return nil // pushes still streaming in: left to whoever reads next
			}
			if pending, err = c.peeker.peek(); errors.Is(err, os.ErrDeadlineExceeded) {
				return nil // the same, found by the peek
			} else if err != nil || !pending {
				return err
			}
		}
	}
}

// settleWait bounds check's reads. The bytes it reads are waiting already, so it is a bound on a
// reply that stops halfway, and wide enough that a goroutine descheduled between setting the
// deadline and reading does not find it passed.
const settleWait = 100 * time.Millisecond

// unsolicited is the error of a read on a parked connection: a timeout means bytes came that do not
// make a reply, which no command asked for.
func unsolicited(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrUnsolicitedReply
	}
	return err
}

// readLent is a lent caller reading the reply to r, just written, on its own goroutine. It
// completes r's Future with the reply, as the reader would. It waits for the whole reply to be
// buffered before decoding it, under a deadline: when the reply is not all in by lentReadWait (or
// r's or ctx's deadline), is larger than the read buffer, or the read fails, it leaves everything
// to the reader goroutine and r's Future pending, the stream untouched.
func (c *conn) readLent(ctx context.Context, r *Request) {
	defer c.endLent()
	until := time.Now().Add(lentReadWait)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	if !r.Until.IsZero() && r.Until.Before(until) {
		until = r.Until
	}
	_ = c.nc.SetReadDeadline(until)
	defer func() { _ = c.nc.SetReadDeadline(time.Time{}) }() // before endLent hands the token on
	for {
		if err := c.rd.FillValue(); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, resp.ErrNotBuffered) {
				c.lentErr = err
			}
			return
		}
		v, err := c.rd.Read() // buffered whole: nothing more is read from the socket
		if err != nil {
			c.lentErr = err
			return
		}
		if v.Kind() == resp.KindPush {
			continue // no push handler, or the reader would not have parked: dropped as it drops them
		}
		cur, ok := c.pop() // r: the connection had no reply due when it was written
		if !ok {
			c.lentErr = ErrClosed // the actor gave up on the connection (a failed write)
			return
		}
		c.answered.Add(1)
		c.complete(cur, v)
		return
	}
}

// start is the clock's origin for conn.quiet.
var start = time.Now()

// sinceStart is the time since start, by the monotonic clock.
func sinceStart() time.Duration { return time.Since(start) }

// quietFor is how long ago the token was last handed on (quiet).
func (c *conn) quietFor() time.Duration { return sinceStart() - time.Duration(c.quiet.Load()) }

// endLent hands the token on. To the reader goroutine, directly, if it has something to read: a
// reply that came due meanwhile (another caller's command), a failed lent read (lentErr, which
// the reader sees once it holds the token), bytes left over, or a close. Otherwise the connection
// is parked again, and a writer that saw the token lent meanwhile is caught by looking again.
func (c *conn) endLent() {
	c.quiet.Store(int64(sinceStart()))
	if c.lentErr != nil || c.rd.Buffered() > 0 || c.readDue() {
		c.toReader()
		return
	}
	c.rstate.Store(readParked)
	if c.readDue() {
		c.kick()
	}
}
