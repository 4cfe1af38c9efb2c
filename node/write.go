package node

import (
	"time"

	"github.com/actoredis/actoredis/resp"
)

// The write path: the actor encodes each command it takes into one batch, writes the batch in one
// write, and hands the written requests to the connection's reader.

// encode appends r to the write batch, unless it was cancelled meanwhile.
func (a *nodeActor) encode(r *Request) {
	if r.IsDone() {
		return // its caller gave up: never written
	}
	if r.Ctx != nil {
		if err := r.Ctx.Err(); err != nil {
			r.Fail(err)
			return
		}
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

// flush writes the batch in one write and hands the written requests to the reader.
func (a *nodeActor) flush() {
	if len(a.batch) == 0 || a.c == nil {
		return
	}
	c := a.c
	// On a parked connection no one was reading: a server's close (or a reply to no command) is
	// found now, before the batch is written into it, and the batch waits for the next connection.
	if err := c.probe(false); err != nil {
		a.drop(err)
		return
	}
	replies := 0
	for _, r := range a.batch {
		replies += r.replies()
		if r.holdsFor > 0 {
			// The server answers nothing behind a WAIT until it returns (see oldestDue). Only the
			// actor moves expected: it still counts the replies before this batch.
			c.waits = append(c.waits, heldWait{upTo: c.expected.Load() + int64(replies), hold: r.holdsFor})
		}
	}
	c.expected.Add(int64(replies))
	now := time.Now()
	_ = c.nc.SetWriteDeadline(now.Add(a.opts.CommandTimeout))
	n, err := c.nc.Write(a.wbuf)
	written := len(a.batch)
	if err != nil {
		written = 0
		for written < len(a.batch) && a.starts[written] < n {
			written++
		}
	}
	a.watchLate(now, a.batch[:written])
	// Counted before the reader can complete them, so a caller that got its reply sees it counted.
	a.stats.writes.Add(1)
	a.stats.commands.Add(uint64(written))
	if !a.handOver(c, a.batch[:written]) && err == nil {
		err = ErrTimeout
	}
	c.kick() // a parked reader has replies to read (unless a lent caller holds the token)
	a.lastActive = a.ticks
	if err != nil {
		// What was not written goes back to the front of the queue for the next connection.
		a.offline = append(append([]*Request(nil), a.batch[written:]...), a.offline...)
	}
	a.resetBatch()
	if err != nil {
		a.drop(err)
	}
}

// handOver puts written requests on the reader's queue and reports whether they all got there.
func (a *nodeActor) handOver(c *conn, written []*Request) bool {
	for i, r := range written {
		select {
		case c.fifo <- r:
		default:
			return a.handOverSlowly(c, written[i:])
		}
	}
	return true
}

// handOverSlowly waits for room on a full reader's queue (fifoSize requests due), but no longer
// than the command timeout: a server that answers nothing for that long would otherwise hold the
// actor, and with it its ticks, its timeouts and Close, until the kernel gave up on the
// connection. It then fails the requests left, which were written, and reports false; the caller
// drops the connection.
func (a *nodeActor) handOverSlowly(c *conn, written []*Request) bool {
	// A parked reader empties its queue only once woken, which flush does after the hand-over: a
	// batch larger than the queue, written on a parked connection, would wait here for nothing.
	c.kick()
	wait := time.NewTimer(a.opts.CommandTimeout)
	defer wait.Stop()
	for i, r := range written {
		select {
		case c.fifo <- r:
		case <-wait.C:
			for _, r := range written[i:] {
				r.Fail(&ConnError{Addr: a.opts.Addr, Command: r.Name(), Written: true, Err: ErrTimeout})
			}
			return false
		}
	}
	return true
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
