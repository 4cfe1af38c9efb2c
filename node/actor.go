package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/resp"
)

// Connection states of a node actor.
const (
	stateDialing = iota
	stateReady
	stateBackoff
	stateClosed
)

const (
	maxBatchBytes = 256 << 10 // a write batch this large is written at once (as far as there is room)
	keepBufBytes  = 1 << 20   // a write buffer grown past this is dropped after its batch
	keepBatch     = fifoSize  // batch lists grown past this many requests are dropped after their batch
)

// nodeActor owns one server's connection. All its fields belong to its goroutine.
type nodeActor struct {
	opts  Options
	root  *actor.RootContext
	self  *actor.PID
	wg    *sync.WaitGroup // dialing and reading goroutines, waited for by Node.Close
	stats *counters
	pool  *pool // dedicated connections for blocking commands

	state   int
	gen     uint64 // connection generation: messages about older connections are ignored
	c       *conn
	attempt int       // reconnect attempts since a connection last stayed up for stableFor
	readyAt time.Time // when c was made ready
	// connReadOnly is what c said to the server last: READONLY, or READWRITE (see syncReadOnly).
	connReadOnly bool
	syncing      *Request           // the last READONLY or READWRITE syncReadOnly sent: never requeued (detach)
	dialErr      error              // why the last dial or handshake failed; nil once one succeeds
	cancel       context.CancelFunc // of the dial in progress
	dialedAt     time.Time          // when the dial in progress began

	wbuf         []byte
	batch        []*Request // encoded in wbuf, not yet written
	starts       []int      // offset of each batch entry in wbuf
	flushPending bool
	offline      []*Request  // waiting for a connection
	late         []lateWatch // written with less time left than the stall detection allows: failed at Until (expireLate)

	timer        *time.Timer // the next tick
	retry        *time.Timer // the next reconnect attempt
	ticks        int64       // coarse clock, one per tickEvery
	tickEvery    time.Duration
	lastActive   int64 // tick of the last write
	lastAnswered int64 // conn.answered at the last tick
	stalled      bool  // the last told to Options.OnStall (see noteStall)
	closing      *closeRequest
	lentNow      *Request // the request of the lentRequest being handled: written, due or not
}

func newActor(opts Options, root *actor.RootContext, wg *sync.WaitGroup, stats *counters, p *pool) *nodeActor {
	return &nodeActor{
		opts:  opts,
		pool:  p,
		stats: stats,
		root:  root,
		wg:    wg,
		// At least 1 ms: a timeout of a few nanoseconds would make it 0 (and every division by it
		// panic), or a timer firing without pause.
		tickEvery: max(min(opts.CommandTimeout/10, 100*time.Millisecond), time.Millisecond),
	}
}

// Receive handles one message; see messages.go for what each one means.
func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Request:
		a.accept(ctx, m)
	case lentRequest:
		// On the sender's goroutine (Node.TryRun), the actor idle: write now, not at a Flush that
		// only the actor's own goroutine would handle. The flush pending is this one.
		a.flushPending = true
		a.lentNow = m.r
		a.accept(ctx, m.r)
		a.flushPending = false
		a.lendRead(m)
		a.flush()
		a.lentNow = nil
	case *flush, *actors.Drained:
		a.flushPending = false
		a.flush()
	case *dialed:
		a.onDialed(m)
	case *setReadOnly:
		a.syncReadOnly()
	case *readOnlyRefused:
		if a.c != nil && m.gen == a.c.gen {
			// Replaced: the next connection says it in its handshake (and READWRITE is a new
			// connection's own state). The disconnect event reports the refusal, once.
			a.drop(m.err)
		}
	case *connLost:
		if a.c != nil && m.gen == a.c.gen {
			a.drop(m.err)
		}
	case *tick:
		a.onTick()
	case *reconnect:
		if m.gen == a.gen && a.state == stateBackoff {
			a.dial()
		}
	case *closeRequest:
		a.beginClose(m)
	case *releaseQueued:
		if a.state != stateReady {
			a.failOffline(ErrReleased)
		}
	case *readerDone:
		if a.c != nil && m.gen == a.c.gen && a.closing != nil {
			a.finishClose()
		}
	case *actor.Started:
		a.self = ctx.Self()
		a.startTicker()
		a.dial()
	case *actor.Restarting:
		a.shutdown(actors.ErrActorPanicked)
	case *actor.Stopping:
		a.shutdown(ErrClosed)
	case *actor.Stopped:
	default:
		a.opts.Logger.Error("node actor: unknown message", "addr", a.opts.Addr,
			"error", &actors.UnknownMessageError{Actor: "node " + a.opts.Addr, Message: m})
	}
}

// accept takes a command: into the write batch when connected, into the offline queue otherwise.
func (a *nodeActor) accept(ctx actor.Context, r *Request) {
	if r.Observed() {
		r.at.Store(&a.opts.Addr)
	}
	if a.closing != nil || a.state == stateClosed {
		r.Fail(commandError(a.opts.Addr, r.Name(), ErrClosed))
		return
	}
	class, waitMs, waitOK := classify(r.Args)
	var u unit
	if r.More != nil {
		u = scanUnit(r.Args, r.More)
	}
	switch {
	case class == refused || u.refused:
		r.Fail(commandError(a.opts.Addr, r.Name(), ErrUnsupportedCommand))
		return
	case class == transaction && r.More == nil:
		// Alone on the shared connection it would queue, or watch, other callers' commands.
		r.Fail(commandError(a.opts.Addr, r.Name(), fmt.Errorf(
			"%w: a transaction runs as one unit (Request.More) or on a dedicated connection", ErrUnsupportedCommand)))
		return
	case u.leftOpen:
		r.Fail(commandError(a.opts.Addr, r.Name(), fmt.Errorf(
			"%w: the unit leaves a MULTI or a WATCH open on a shared connection", ErrUnsupportedCommand)))
		return
	case u.blocks:
		// It would hold the shared connection for its whole timeout.
		r.Fail(commandError(a.opts.Addr, r.Name(), fmt.Errorf(
			"%w: a blocking command in a unit runs only inside its MULTI on a shared connection", ErrUnsupportedCommand)))
		return
	case r.More != nil: // a unit's WAITs hold the connection as a lone one does
		class, waitMs, waitOK = waiting, u.maxWaitMs, u.maxWaitMs > 0 || u.waitZero
		if u.waitZero {
			waitMs = 0
		}
	}
	switch {
	case class == waiting && waitOK:
		holds := time.Duration(waitMs) * time.Millisecond
		if limit := max(a.opts.CommandTimeout, r.Slower); holds <= 0 || holds >= limit {
			// It holds the shared connection until its timeout: 0 is forever.
			r.Fail(commandError(a.opts.Addr, r.Name(), fmt.Errorf(
				"%w: its timeout must be from 1 ms to below the command timeout (%s) on a shared connection",
				ErrUnsupportedCommand, limit)))
			return
		}
		r.holdsFor = holds
	case class == blocking && r.More == nil:
		// It may wait for as long as its timeout says, on a connection of its own: it holds up
		// nothing of the client's, and must not keep a lone caller from being lent the actors.
		r.Uncount()
		if r.IsDone() {
			return // its caller gave up: no goroutine, no connection
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.pool.runBlocking(r)
		}()
		return
	}
	r.holdsFor = max(r.holdsFor, r.Slower)
	r.expires = a.ticks + int64(a.opts.CommandTimeout/a.tickEvery) + 1
	if a.state != stateReady {
		if len(a.offline) >= a.opts.OfflineQueue && (r.Owner == nil || r.Until.IsZero()) {
			// A request its Owner would retry until its deadline waits here instead, in order
			// with the rest (it is held until then anyway): given back, each went through its own
			// random backoff, and one caller's pipeline to a key came out reordered (a review:
			// 365–3469 of 2000–5000 RPUSHes out of place across a CLIENT KILL).
			r.Fail(commandError(a.opts.Addr, r.Name(), ErrOfflineQueueFull))
			return
		}
		a.offline = append(a.offline, r) // failed at its Until, if sooner (expireOffline)
		return
	}
	a.encode(r)
	if len(a.wbuf) >= maxBatchBytes {
		a.flush()
		return
	}
	if !a.flushPending && len(a.batch) > 0 && !a.opts.flushOnDrained {
		// Behind everything already queued: one write will carry the whole backlog.
		a.flushPending = true
		ctx.Send(a.self, flushMessage)
	}
}

// lendRead gives the read token to the lent caller of m when its command, alone in the batch,
// is about to be written on a parked connection (see lentread.go): the caller then reads its reply
// itself (Node.TryRun). A parked connection that cannot be used (check) is dropped instead, and the
// command waits for the next one.
func (a *nodeActor) lendRead(m lentRequest) {
	c, r := a.c, m.r
	if c == nil || len(a.batch) != 1 || a.batch[0] != r || r.replies() != 1 ||
		c.answered.Load() != c.expected.Load() {
		return
	}
	taken, broken := c.claim(false)
	switch {
	case taken:
		r.lentConn = c
	case broken != nil:
		a.drop(broken)
	}
}

// dial starts connecting in a goroutine; the result comes back as *dialed.
func (a *nodeActor) dial() {
	a.gen++
	a.state, a.dialedAt = stateDialing, time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	gen, opts, root, self := a.gen, a.opts, a.root, a.self
	opts.ReadOnly = a.stats.readOnly.Load()
	opts.read = new(atomic.Int64)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		nc, rd, err := dial(ctx, opts)
		root.Send(self, &dialed{gen: gen, conn: nc, rd: rd, err: err, readOnly: opts.ReadOnly, read: opts.read})
	}()
}

func (a *nodeActor) onDialed(m *dialed) {
	if m.gen != a.gen || a.state != stateDialing {
		m.Fail(nil) // stale: close it
		return
	}
	a.cancel()
	if m.err != nil {
		a.dialErr = m.err
		a.stats.downSince.Store(downLong)
		a.emit(Event{Type: EventError, Err: commandError(a.opts.Addr, "connect", m.err)})
		a.releaseAnywhere(m.err)
		a.backoff()
		return
	}
	a.dialErr = nil
	root, self := a.root, a.self
	c := &conn{
		gen:       a.gen,
		addr:      a.opts.Addr,
		mapAddr:   a.opts.MapAddr,
		keySlot:   a.opts.KeySlot,
		nc:        m.conn,
		rd:        m.rd,
		fifo:      make(chan *Request, fifoSize),
		onPush:    containPush(a.opts.OnPush, a.opts.Logger, a.opts.Addr),
		report:    func(msg any) { root.Send(self, msg) },
		done:      make(chan struct{}),
		alone:     a.opts.Alone,
		wake:      make(chan struct{}, 1),
		bytesRead: m.read,
	}
	switch m.conn.(type) { // a TLS connection's state is lost with a write cut short; another's unknown
	case *net.TCPConn, *net.UnixConn:
		c.resumable = true
	}
	if c.alone != nil {
		// The reader parks only on a connection it can peek at: a server's close of a parked one
		// is found by the peek before the next write (see claim). Without it the reader keeps
		// reading, and finds the close itself.
		if c.peeker = newPeeker(c.nc); c.peeker == nil {
			c.alone = nil
		}
	}
	a.c, a.state, a.readyAt = c, stateReady, time.Now()
	a.stats.live.Store(c)
	a.lastAnswered = 0 // the stall clock starts again with the connection
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		c.read()
	}()
	a.emit(Event{Type: EventConnect})
	a.emit(Event{Type: EventReady})
	a.connReadOnly = m.readOnly
	a.syncReadOnly() // changed while it dialled: first, before the rest
	if a.c == nil {
		return // that write failed, and dropped the connection: the offline queue waits for the next
	}
	a.expireOffline() // those past their deadline since the last tick are not written now
	queued := a.offline
	a.offline = nil
	for _, r := range queued {
		a.encode(r)
		if len(a.wbuf) >= maxBatchBytes {
			a.flush() // as accept does: a long queue is written as it is encoded, not all at once
		}
	}
	a.flush()
}

// syncReadOnly writes READONLY or READWRITE on the live connection when it says otherwise than
// Node.SetReadOnly last asked: the commands written after it see the new setting. (A connection
// dialled from now on says it in its handshake.) A refusal is reported, and replaces the
// connection (readOnlyRefused).
func (a *nodeActor) syncReadOnly() {
	on := a.stats.readOnly.Load()
	if on == a.connReadOnly || a.state != stateReady || a.c == nil || a.closing != nil {
		return
	}
	a.connReadOnly = on
	cmd := "READWRITE"
	if on {
		cmd = "READONLY"
	}
	r := NewRequest(cmd)
	a.syncing = r
	a.encode(r)
	a.flush()
	gen, root, self, addr := a.c.gen, a.root, a.self, a.opts.Addr
	a.wg.Add(1)
	go func() { // every future completes: with the reply, or with its connection's end
		defer a.wg.Done()
		var se *resp.Error
		if _, err := r.Await(); errors.As(err, &se) {
			root.Send(self, &readOnlyRefused{gen: gen, err: commandError(addr, cmd, err)})
		}
	}()
}

// drop closes the current connection after a failure. Written requests are failed by the reader;
// the batch not yet written is kept for the next connection.
func (a *nodeActor) drop(cause error) {
	if a.c == nil {
		return
	}
	if time.Since(a.readyAt) >= a.opts.stableFor {
		a.attempt = 0 // the first attempt is made at once (DefaultBackoff)
	}
	a.detach(cause)
	a.emit(Event{Type: EventDisconnect, Err: cause})
	if a.closing != nil {
		a.finishClose()
		return
	}
	a.backoff()
}

// releaseAnywhere gives the queued commands any node takes (Request.Anywhere) back to their
// Owner once a dial has failed, rather than keeping them for a connection that may be long in
// coming: the Owner sends them to another node.
func (a *nodeActor) releaseAnywhere(cause error) {
	a.failOfflineIf(func(r *Request) bool { return r.Anywhere && r.Owner != nil }, cause)
}

// detach closes the current connection, if any — its reader then fails what was written on it,
// saying why — and moves the batch not yet written to the front of the offline queue.
func (a *nodeActor) detach(cause error) {
	if c := a.c; c != nil {
		a.c = nil
		a.stats.live.Store(nil)
		a.stats.downSince.Store(time.Now().UnixNano())
		a.stats.disconnects.Add(1) // lost, dropped, or closed with the actor: each ready one ends here
		a.noteStall(false)         // before a restart too: the next actor starts unstalled
		c.cause.Store(&cause)
		c.closing.Store(true)
		_ = closeConn(c.nc)
		close(c.fifo)
		c.kick() // a parked reader exits, failing what was written
	}
	for _, r := range a.batch {
		if r == a.syncing { // the next connection says the setting of its own dial in its handshake
			r.Fail(ErrClosed)
			continue
		}
		a.offline = append(a.offline, r)
	}
	a.resetBatch()
}

func (a *nodeActor) backoff() {
	a.state = stateBackoff
	a.attempt++
	delay := a.reconnectDelay()
	a.emit(Event{Type: EventReconnecting, Attempt: a.attempt})
	gen, root, self := a.gen, a.root, a.self
	a.retry = time.AfterFunc(delay, func() { root.Send(self, &reconnect{gen: gen}) })
}

// containPush wraps Options.OnPush, the user's code run on the reader goroutine, where a panic
// would end the process: it is logged, and the reader goes on.
func containPush(f func(resp.Value), logger *slog.Logger, addr string) func(resp.Value) {
	if f == nil {
		return nil
	}
	return func(v resp.Value) {
		actors.Contain(logger, "node: the OnPush handler panicked", func() { f(v) }, "addr", addr)
	}
}

// MinReconnectDelay is the least delay between two dials of a node: a shorter one from
// Options.Reconnect (zero, negative) counts as this long, not as a loop of dials.
const MinReconnectDelay = 10 * time.Millisecond

// reconnectDelay asks Options.Reconnect, the user's code, for the next delay, at least
// MinReconnectDelay. A panic in it is logged and DefaultBackoff used: it must not restart the
// actor, failing what waits for the connection.
func (a *nodeActor) reconnectDelay() time.Duration {
	var d time.Duration
	if actors.Contain(a.opts.Logger, "node: the Reconnect function panicked; using the default backoff",
		func() { d = a.opts.Reconnect(a.attempt) }, "addr", a.opts.Addr, "attempt", a.attempt) {
		return DefaultBackoff(a.attempt)
	}
	return max(d, MinReconnectDelay)
}

func (a *nodeActor) emit(e Event) {
	e.Addr = a.opts.Addr
	switch e.Type {
	case EventReady:
		a.stats.connects.Add(1)
	case EventError:
		a.stats.dialErrors.Add(1)
	}
	if e.Type == EventError || e.Type == EventDisconnect {
		a.opts.Logger.Warn("node: "+e.Type.String(), "addr", e.Addr, "error", e.Err)
	}
	if a.opts.OnEvent != nil {
		a.opts.OnEvent(e)
	}
}
