package node

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// fifoSize bounds the commands written and not yet answered on one connection: the commands that
// come when the reader is that far behind wait in the actor's batch, unwritten (see room).
const fifoSize = 4096

// conn is one live connection: the actor writes to it and pushes each written request on fifo;
// the reader goroutine parses replies in order and completes the requests' futures.
type conn struct {
	gen     uint64
	addr    string
	mapAddr func(string) string // Options.MapAddr
	keySlot func(string) int    // Options.KeySlot
	nc      net.Conn
	rd      *resp.Reader
	fifo    chan *Request

	roomWanted atomic.Bool           // the actor waits for room on fifo: pop tells it when half is free
	expected   atomic.Int64          // replies the actor has written or is writing; grows before each write
	answered   atomic.Int64          // replies the reader consumed; only the reader writes it
	closing    atomic.Bool           // no more writes: the reader exits once everything is answered
	lost       atomic.Bool           // the reader found the connection failed (its close reported: connLost)
	lostAt     atomic.Int64          // when, in Unix nanoseconds: stored before lost (see counters.downFor)
	cause      atomic.Pointer[error] // why the actor closed the connection, if it did

	// resumable: a write cut short by its deadline may be finished later, the connection being a
	// plain TCP one (a TLS connection's state is lost with such a write). cut says one was, and
	// unsent is the rest of the last request it began; both the actor's, written before anything
	// else, at its ticks (see writeUnsent).
	resumable bool
	cut       bool
	unsent    []byte
	wroteAt   time.Time // the actor's: when it last wrote requests on the connection

	marks []dueMark  // the actor's: the replies due at each tick, oldest first, while still due (oldestDue)
	waits []heldWait // the actor's: the WAITs written, while a mark of theirs or after them is due
	// the actor's: answered as the last tick saw it, and that tick's time (when a reply last came,
	// give or take a tick)
	seen   int64
	seenAt time.Time
	// the bytes read (by dial's meter; nil for a connection made otherwise) as the actor last saw
	// them, and when it saw them change; and when a write cut short last went on (writeUnsent):
	// signs of life for the stall signal, a reply or a write still moving
	bytesRead *atomic.Int64
	readSeen  int64
	movedAt   time.Time

	onPush func(resp.Value)
	report func(msg any) // sends a message to the actor
	done   chan struct{} // closed when the reader goroutine has exited

	// Lent reads (lentread.go).
	alone   func() bool             // Options.Alone; nil: the reader never parks
	rstate  atomic.Int32            // who reads: readActive, readParked, readLent or readHeld
	heldFor atomic.Pointer[Request] // the request a readHeld token is set aside for
	wake    chan struct{}           // hands the token back to the parked reader; room for one
	lentErr error                   // why a lent read failed; the token holder's
	// quiet is when the token was last handed on by a lent caller or a probe (see sinceStart). The
	// holder writes it; atomic, so that a test may watch it.
	quiet  atomic.Int64
	peeker *peeker // the token holder's
}

// read is the reader goroutine.
func (c *conn) read() {
	defer close(c.done)
	var cur *Request
	left := 0 // replies still to come for cur
	for {
		if c.lentErr != nil {
			c.fail(nil, c.lentErr)
			return
		}
		if c.closing.Load() && c.answered.Load() == c.expected.Load() {
			c.report(&readerDone{gen: c.gen})
			return
		}
		if c.mayPark() {
			c.park()
			continue
		}
		v, err := c.rd.Read()
		if err != nil {
			c.fail(cur, err)
			return
		}
		if v.Kind() == resp.KindPush {
			if c.onPush != nil {
				c.onPush(v.Clone())
			}
			continue
		}
		n := c.answered.Load()
		if n >= c.expected.Load() {
			c.fail(cur, ErrUnsolicitedReply)
			return
		}
		if cur == nil {
			var ok bool
			if cur, ok = c.pop(); !ok {
				return // the actor gave up on this connection
			}
			left = cur.replies()
		}
		c.answered.Store(n + 1)
		left--
		if cur.More != nil {
			if !(cur.Asking && left == len(cur.More)+1) { // ASKING's reply is dropped
				cur.collected = append(cur.collected, v.Clone())
			}
			if left == 0 {
				c.completeUnit(cur)
				cur = nil
			}
			continue
		}
		if left > 0 {
			continue // ASKING's reply, ahead of the command's own
		}
		c.complete(cur, v)
		cur = nil
	}
}

// pop takes the next request written off fifo. When the actor waits for room there (roomWanted),
// and half of fifo is free, it sends the actor a flush.
func (c *conn) pop() (*Request, bool) {
	r, ok := <-c.fifo
	if c.roomWanted.Load() && len(c.fifo) <= fifoSize/2 && c.roomWanted.CompareAndSwap(true, false) {
		c.report(flushMessage)
	}
	return r, ok
}

// complete completes r, whose unit's last reply is v, or offers its error (or a reply that may
// say a key is missing, see MissingReturns) to r's owner.
func (c *conn) complete(r *Request, v resp.Value) {
	if r.Owner != nil && v.IsError() {
		c.returnError(r, "", v)
		return
	}
	if r.MissingReturns && r.Owner != nil && saysMissing(r.Args, v) && r.giveBack(ErrMissingReply) {
		return
	}
	r.CompleteFrom(v)
}

// saysMissing reports whether v, the reply to args, may say a key is missing: a Nil (GET), a Nil
// inside MGET's reply, an empty reply to a read of a whole collection (HGETALL, HKEYS, HVALS,
// SMEMBERS: Redis keeps no empty one), 0 from a collection's size (SCARD, LLEN, HLEN, ZCARD), -2
// from TTL, PTTL, EXPIRETIME or PEXPIRETIME, "none" from TYPE, or EXISTS or TOUCH counting fewer
// keys than it was given. Other replies a missing key gives (an empty LRANGE, a Nil inside HMGET's
// reply, 0 from STRLEN, SISMEMBER or XLEN...) are also what a key that exists may give, and are not
// checked: each would cost a read on the master too.
func saysMissing(args []any, v resp.Value) bool {
	switch v.Kind() {
	case resp.KindNull:
		return true
	case resp.KindArray, resp.KindSet, resp.KindMap:
		name, _ := resp.ArgText(args[0])
		if v.Len() == 0 {
			return resp.EqualFoldAny(name, "HGETALL", "HKEYS", "HVALS", "SMEMBERS")
		}
		if v.Kind() != resp.KindArray || !strings.EqualFold(name, "MGET") {
			return false
		}
		for i := range v.Len() {
			if v.Index(i).IsNull() {
				return true
			}
		}
	case resp.KindInteger:
		n, err := v.Int64()
		if err != nil || n >= int64(len(args)-1) {
			return false // no count of keys falls short, no size is 0, and no TTL is -2
		}
		name, _ := resp.ArgText(args[0])
		switch n {
		case 0:
			if resp.EqualFoldAny(name, "SCARD", "LLEN", "HLEN", "ZCARD") {
				return true
			}
		case -2:
			return resp.EqualFoldAny(name, "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME")
		}
		return resp.EqualFoldAny(name, "EXISTS", "TOUCH")
	case resp.KindSimpleString:
		name, _ := resp.ArgText(args[0])
		return strings.EqualFold(name, "TYPE") && string(v.Bytes()) == "none"
	}
	return false
}

// completeUnit completes a unit with the array of its replies. A transaction the server refused
// whole for a redirect or a transient state ran nothing: MOVED, ASK, TRYAGAIN... met by a command
// it queued (EXEC then answers EXECABORT) or by the EXEC itself. That error is offered to r's
// owner, which may send the whole unit again, as for a lone command.
func (c *conn) completeUnit(r *Request) {
	if r.Owner != nil {
		if v, by, ok := transactionRefusal(r); ok {
			c.returnError(r, by, v)
			return
		}
	}
	r.unitFrom = c.addr
	r.CompleteHere(resp.Array(r.collected...), nil)
}

// transactionRefusal returns the error that made the server refuse r's transaction (MULTI ...
// EXEC) when it is one a retry may get past (Returnable), and the command that met it: EXEC, or
// the queued command ("MULTI ... INCR (command 1)").
func transactionRefusal(r *Request) (v resp.Value, by string, ok bool) {
	replies := r.collected
	if len(replies) < 2 || len(r.More) == 0 || CommandName(r.Args) != "MULTI" || CommandName(r.More[len(r.More)-1]) != "EXEC" {
		return resp.Value{}, "", false
	}
	exec := replies[len(replies)-1]
	if replies[0].IsError() || !exec.IsError() {
		// A MULTI refused (an ACL without it) queued nothing: the commands ran, each on its own.
		return resp.Value{}, "", false
	}
	e := resp.ParseError(string(exec.Bytes()))
	if Returnable(e) {
		return exec, "MULTI ... EXEC", true
	}
	if e.Prefix != "EXECABORT" {
		return resp.Value{}, "", false
	}
	for i, v := range replies[1 : len(replies)-1] {
		if v.IsError() && Returnable(resp.ParseError(string(v.Bytes()))) {
			return v, fmt.Sprintf("MULTI ... %s (command %d)", CommandName(r.More[i]), i+1), true
		}
	}
	return resp.Value{}, "", false
}

// returnError offers a redirect or retryable error to the request's owner before completing it:
// a transient state (TRYAGAIN, LOADING...) as a *CommandError naming the node and name, the
// command that met it (r's own name when ""), for the error the owner may give up with in the end.
func (c *conn) returnError(r *Request, name string, v resp.Value) {
	e := withRedirectHost(resp.ParseError(string(v.Bytes())), c.addr)
	returnable := Refused(r.Args, e, c.addr, c.mapAddr, c.keySlot)
	if name == "" && (returnable || r.NameNode) {
		name = r.Name()
	}
	if returnable && r.giveBack(offered(c.addr, name, e)) {
		return
	}
	if r.NameNode {
		r.Future.CompleteHere(resp.Value{}, commandError(c.addr, name, e))
		return
	}
	r.Future.CompleteHere(resp.Value{}, e)
}

// offered is e, a server's refusal of the command name at addr, as a node offers it to the
// request's Owner: a redirect as it is (it names its target), a transient state (TRYAGAIN,
// CLUSTERDOWN...) as a *CommandError naming the node, for the error the Owner may give up with.
func offered(addr, name string, e *resp.Error) error {
	if e.Prefix == "MOVED" || e.Prefix == "ASK" {
		return e
	}
	return commandError(addr, name, e)
}

// fail reports the failure to the actor and fails every request written on this connection:
// they may have run. It returns when the actor has closed fifo.
func (c *conn) fail(cur *Request, err error) {
	if cause := c.cause.Load(); cause != nil {
		err = *cause // the actor closed it (a stall, a close): say why, not "use of closed connection"
	}
	c.lostAt.Store(time.Now().UnixNano())
	c.lost.Store(true) // before the report: the actor writes nothing more into it meanwhile
	c.report(&connLost{gen: c.gen, err: err})
	// A reply past the limits is its command's alone: that command carries the limit error, which
	// is not retried (it would meet the same reply again); the others, and all of them when it was
	// a push frame, are dropped with the connection.
	others, own := err, false
	if resp.BrokeLimits(err) {
		others = fmt.Errorf("dropped with the connection, after a frame past the limits: %v", err)
		own = !c.rd.ReadingPush()
	}
	if own && cur == nil {
		cur = <-c.fifo // the reply that broke the limits was the next command's
	}
	if cur != nil {
		mine := others
		if own {
			mine = err
		}
		cur.Fail(&ConnError{Addr: c.addr, Command: cur.Name(), Written: true, Err: mine})
	}
	for r := range c.fifo {
		r.Fail(&ConnError{Addr: c.addr, Command: r.Name(), Written: true, Err: others})
	}
}

// withRedirectHost completes a MOVED or ASK whose address has no host ("MOVED 3999 :6381": the
// server means its own host) with the host of addr, the node that answered.
func withRedirectHost(e *resp.Error, addr string) *resp.Error {
	if e.Prefix != "MOVED" && e.Prefix != "ASK" {
		return e
	}
	slot, target, ok := strings.Cut(e.Msg, " ")
	if !ok || strings.LastIndexByte(target, ':') != 0 { // "::1:7000" is IPv6 ::1, not an empty host
		return e
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return e
	}
	return &resp.Error{Prefix: e.Prefix, Msg: slot + " " + net.JoinHostPort(host, target[1:])}
}

// dueMark says that by at (the time of the last write before the tick that noted it, or that
// tick's time if no write is known) the connection had been written upTo replies (conn.expected),
// from of them answered.
type dueMark struct {
	upTo, from int64
	at         time.Time
}

// heldWait is a WAIT written, or a command the server may take long to run (Request.Slower): the
// reply count through its reply, and how long the server may hold it (and every reply behind it).
type heldWait struct {
	upTo int64
	hold time.Duration
	at   time.Time // written then
}

// oldestDue notes the replies written since the last mark, at the time of the last write (wroteAt;
// now, the tick's time, if none is known), forgets the marks whose replies are all in, and returns
// the time of the oldest mark with a reply still due: that reply was written at it or before. held
// adds up the holds of the held commands (a WAIT, a Slower one) not answered when that mark was
// noted and written before the server could have read the reply due's command: the server runs
// them one after another, so it may have spent that long on them, and those behind the reply due
// count too. Redis sends the replies of the commands it read together once it has run them all,
// and what is written while it runs a slow command is read together after it: a reply ahead of a
// slow command may wait for it, and from the client a server stuck before it looks the same as one
// running it. A hold written after the reply due, once no reply has come for a while, does not
// count: a server that stopped answering is not kept alive by the holds sent to it since. It
// returns false when no reply is due. Called by the actor at each tick, and only there.
func (c *conn) oldestDue(now time.Time, answered int64) (since time.Time, held time.Duration, due bool) {
	if expected := c.expected.Load(); expected > answered &&
		(len(c.marks) == 0 || c.marks[len(c.marks)-1].upTo < expected) {
		at := c.wroteAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		c.marks = append(c.marks, dueMark{upTo: expected, from: answered, at: at})
	}
	i := 0
	for i < len(c.marks) && c.marks[i].upTo <= answered {
		i++
	}
	c.marks = append(c.marks[:0], c.marks[i:]...)
	gone := answered // the waits answered before the oldest mark was noted held up none of it
	if len(c.marks) > 0 {
		gone = c.marks[0].from
	}
	w := 0
	for w < len(c.waits) && c.waits[w].upTo <= gone {
		w++
	}
	c.waits = append(c.waits[:0], c.waits[w:]...)
	if len(c.marks) == 0 {
		return time.Time{}, 0, false
	}
	if answered != c.seen {
		c.seen, c.seenAt = answered, now
	}
	// The server read the reply due's command once free and once it had come: at the mark's time
	// or when the reply before it came, whichever is later. What was written by then may have been
	// read with it; what was written after, not.
	read := later(c.marks[0].at, c.seenAt)
	for _, wt := range c.waits {
		if !wt.at.After(read) {
			held += wt.hold
		}
	}
	return c.marks[0].at, held, true
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
