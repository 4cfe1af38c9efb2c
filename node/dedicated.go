package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// Dedicated is a connection of its own to the node, taken from a small bounded pool, for what
// must not share the pipelined connection: blocking commands (BLPOP, XREAD BLOCK...) and
// WATCH ... MULTI ... EXEC sessions. Commands on it run one at a time, in order, with nothing
// interleaved. Release it when done; it is then reused (after UNWATCH/DISCARD if a session left
// state behind) or closed.
//
// A Dedicated is not safe for concurrent use: one goroutine at a time.
type Dedicated struct {
	pool     *pool
	nc       net.Conn
	rd       *resp.Reader
	wbuf     []byte
	broken   bool
	watching bool
	inMulti  bool
	selected bool // a SELECT ran: another database than the next user expects, so not reused
	readOnly bool // what its handshake said: READONLY, or nothing (READWRITE)
}

// pool holds the node's dedicated connections: slots is a semaphore of MaxDedicated tokens, one
// per connection that exists; idle holds those ready for reuse.
type pool struct {
	opts     Options
	readOnly *atomic.Bool // the node's setting (counters.readOnly): connections are dialled with it
	slots    chan struct{}
	idle     chan *Dedicated
	closed   chan struct{}
	stop     context.Context // ended by close: interrupts dials in progress
	stopDial context.CancelFunc

	mu    sync.Mutex // guards inUse, and orders a return to idle with close; not taken per command
	inUse map[*Dedicated]struct{}
	once  sync.Once
}

func newPool(opts Options, readOnly *atomic.Bool) *pool {
	opts.OnPush = containPush(opts.OnPush, opts.Logger, opts.Addr) // run by the blocking goroutines
	stop, stopDial := context.WithCancel(context.Background())
	return &pool{
		opts:     opts,
		readOnly: readOnly,
		slots:    make(chan struct{}, opts.MaxDedicated),
		idle:     make(chan *Dedicated, opts.MaxDedicated),
		closed:   make(chan struct{}),
		stop:     stop,
		stopDial: stopDial,
		inUse:    map[*Dedicated]struct{}{},
	}
}

// get returns an idle connection, or dials a new one when fewer than MaxDedicated exist, or waits
// for one to be released until ctx ends, or gone closes (the request it is for was abandoned: nil
// for none).
func (p *pool) get(ctx context.Context, gone <-chan struct{}) (*Dedicated, error) {
	for {
		var d *Dedicated
		idle := true
		select {
		case d = <-p.idle: // an idle one first: the select below picks at random, and would dial
		default:
			select {
			case <-p.closed:
				return nil, ErrClosed
			case d = <-p.idle:
			case p.slots <- struct{}{}:
				nc, rd, readOnly, err := p.dialCurrent(ctx)
				if err != nil {
					<-p.slots
					return nil, err
				}
				d, idle = &Dedicated{pool: p, nc: nc, rd: rd, readOnly: readOnly}, false
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-gone:
				return nil, errAbandoned
			}
		}
		if idle && (!d.alive(ctx) || d.readOnly != p.readOnly.Load()) {
			// The server closed it while it sat idle (its timeout setting), or it was dialled when
			// the node's role was another: a READONLY connection to a master demoted since would
			// serve its reads as a replica's, unchecked.
			d.discard()
			continue
		}
		p.mu.Lock()
		select {
		case <-p.closed:
			p.mu.Unlock()
			d.discard()
			return nil, ErrClosed
		default:
		}
		p.inUse[d] = struct{}{}
		p.mu.Unlock()
		return d, nil
	}
}

// dial opens a connection for the pool with the node's READONLY setting, interrupted by ctx or by
// the pool's close.
func (p *pool) dial(ctx context.Context) (net.Conn, *resp.Reader, error) {
	nc, rd, _, err := p.dialCurrent(ctx)
	return nc, rd, err
}

// dialCurrent is dial, returning the setting the connection said. A setting changed while it
// dialled (SetReadOnly) has the connection closed and dialled again: one that said the old
// setting would outlast the change.
func (p *pool) dialCurrent(ctx context.Context) (net.Conn, *resp.Reader, bool, error) {
	for {
		readOnly := p.readOnly.Load()
		nc, rd, err := p.dialAs(ctx, readOnly)
		if err != nil || readOnly == p.readOnly.Load() {
			return nc, rd, readOnly, err
		}
		_ = closeConn(nc)
	}
}

// dialAs is dial, saying READONLY when readOnly is set.
func (p *pool) dialAs(ctx context.Context, readOnly bool) (net.Conn, *resp.Reader, error) {
	if p.stop.Err() != nil {
		return nil, nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(p.stop, cancel)()
	opts := p.opts
	opts.ReadOnly = readOnly
	nc, rd, err := dial(ctx, opts)
	if p.stop.Err() != nil {
		// Closed meanwhile: a dial that won the race with the cancel would outlive the node (a
		// subscriber's connection made after Close, CI run 120).
		if err == nil {
			_ = closeConn(nc)
		}
		return nil, nil, ErrClosed
	}
	return nc, rd, err
}

// alive reports whether an idle connection still looks usable: nothing arrived on it, and the
// server has not closed it (its timeout setting closes idle clients). One it cannot peek at (a
// Dialer's own type of connection, or a platform without the peek) must answer a PING instead,
// within ConnectTimeout, before ctx ends and the pool closes.
func (d *Dedicated) alive(ctx context.Context) bool {
	if d.rd.Buffered() > 0 {
		return false
	}
	if p := newPeeker(d.nc); p != nil {
		pending, err := p.peek()
		return !pending && err == nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.pool.opts.ConnectTimeout)
	defer cancel()
	stop := context.AfterFunc(d.pool.stop, cancel) // the pool's close ends it too
	defer stop()
	interrupt := context.AfterFunc(ctx, func() { _ = d.nc.SetDeadline(time.Now()) })
	deadline, _ := ctx.Deadline()
	_ = d.nc.SetDeadline(deadline)
	err := call(d.nc, d.rd, "PING")
	if !interrupt() {
		return false // interrupted: the deadline may have been set after the one cleared below
	}
	_ = d.nc.SetDeadline(time.Time{})
	return err == nil
}

// counts returns how many of the pool's connections are in use, and how many idle.
func (p *pool) counts() (inUse, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse), len(p.idle)
}

// close refuses new takers, closes idle connections and interrupts those in use and being dialled.
func (p *pool) close() {
	p.once.Do(func() {
		p.stopDial()
		p.mu.Lock()
		close(p.closed)
		for d := range p.inUse {
			_ = closeConn(d.nc) // a blocked command returns with an error; Release discards it
		}
		p.mu.Unlock()
		for {
			select {
			case d := <-p.idle:
				d.discard()
			default:
				return
			}
		}
	})
}

// Do runs one command on the connection and waits for its reply, or for ctx, or for the node's
// CommandTimeout past the command's own timeout when it blocks (a BLPOP with a timeout of 0 waits
// until answered): a wait ended so breaks the connection, which is closed at Release and runs no
// more commands (each fails with a ConnError wrapping ErrBroken), and one ended by the timeout
// fails with ErrTimeout. A server error reply is returned as the error (a
// *resp.Error; a redirect to ":port" names this node's host).
func (d *Dedicated) Do(ctx context.Context, args ...any) (resp.Value, error) {
	if err := ctx.Err(); err != nil { // ended: never written (a cancelled EXEC must not commit)
		// First: a connection broken by the same ctx ending under the last command says so too.
		return resp.Value{}, &ConnError{Addr: d.pool.opts.Addr, Command: CommandName(args), Err: err}
	}
	if d.broken {
		if isClosed(d.pool) {
			return resp.Value{}, commandError(d.pool.opts.Addr, CommandName(args), ErrClosed)
		}
		return resp.Value{}, &ConnError{Addr: d.pool.opts.Addr, Command: CommandName(args), Err: ErrBroken}
	}
	if unsupported(args) {
		return resp.Value{}, commandError(d.pool.opts.Addr, CommandName(args), ErrUnsupportedCommand)
	}
	var err error
	if d.wbuf, err = resp.AppendCommand(d.wbuf[:0], args...); err != nil {
		return resp.Value{}, commandError(d.pool.opts.Addr, CommandName(args), err)
	}
	limit, unbound := d.bound(ctx, args)
	defer unbound()
	stop := context.AfterFunc(limit, func() { _ = d.nc.SetDeadline(time.Now()) })
	v, written, err := d.roundTrip()
	if !stop() && err == nil {
		// ctx ended as the reply came in: the deadline it sets may land on the connection after
		// this, and would fail the next user's command at once. Use the reply; drop the connection.
		d.broken = true
	}
	if err != nil {
		d.broken = true
		switch {
		case isClosed(d.pool): // the node closed it under the command
			err = ErrClosed
		case ctx.Err() != nil:
			err = ctx.Err()
		case limit.Err() != nil: // no reply within the command timeout
			err = ErrTimeout
		}
		return resp.Value{}, &ConnError{Addr: d.pool.opts.Addr, Command: CommandName(args), Written: written, Err: err}
	}
	d.track(CommandName(args), v)
	if v.IsError() { // a MOVED or ASK to ":port" means this node's host
		return resp.Value{}, withRedirectHost(resp.ParseError(string(v.Bytes())), d.pool.opts.Addr)
	}
	return v.Clone(), nil
}

// bound limits the wait for a command's reply to the node's CommandTimeout, past the command's own
// timeout when it blocks or waits (BLPOP, XREAD BLOCK, WAIT, WAITAOF); one with a timeout of 0
// waits as long as ctx lets it.
func (d *Dedicated) bound(ctx context.Context, args []any) (context.Context, context.CancelFunc) {
	var wait time.Duration
	forever := false
	switch c, ms, ok := classify(args); {
	case c == blocking:
		wait, forever = blockingWait(args)
	case c == waiting && ok:
		wait, forever = serverHold(float64(max(ms, 0)), time.Millisecond) // a negative one: the server refuses it
	}
	if forever {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, wait+d.pool.opts.CommandTimeout)
}

// roundTrip writes the command and reads its reply; written says whether any of it went out.
func (d *Dedicated) roundTrip() (v resp.Value, written bool, err error) {
	if n, err := d.nc.Write(d.wbuf); err != nil {
		return resp.Value{}, n > 0, err
	}
	for {
		v, err := d.rd.Read()
		if err != nil || v.Kind() != resp.KindPush {
			return v, true, err
		}
		if d.pool.opts.OnPush != nil {
			d.pool.opts.OnPush(v.Clone())
		}
	}
}

// track follows the session state a later user of the connection must not inherit.
func (d *Dedicated) track(name string, v resp.Value) {
	if v.IsError() {
		// An EXEC refused for an error while queueing ends the transaction and its WATCHes, as
		// one that ran does; a DISCARD without a MULTI says there is none.
		var se *resp.Error
		switch {
		case name == "EXEC" && errors.As(v.Err(), &se) && se.Prefix == "EXECABORT":
			d.inMulti, d.watching = false, false
		case name == "DISCARD":
			d.inMulti = false
		}
		return
	}
	switch name {
	case "SELECT":
		d.selected = true
	case "WATCH":
		d.watching = true
	case "UNWATCH":
		d.watching = false
	case "MULTI":
		d.inMulti = true
	case "EXEC", "DISCARD":
		d.inMulti, d.watching = false, false
	}
}

// Release gives the connection back to the pool: reset and kept for reuse when healthy, closed
// otherwise. The Dedicated must not be used afterwards.
func (d *Dedicated) Release() {
	p := d.pool
	// Still in use while it is reset: a close meanwhile interrupts the reset, not waits for it.
	if !d.broken && (d.inMulti || d.watching) && !isClosed(p) { // closed: it is discarded below
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.CommandTimeout)
		if d.inMulti {
			_, _ = d.Do(ctx, "DISCARD")
		}
		if !d.broken && d.watching {
			_, _ = d.Do(ctx, "UNWATCH")
		}
		cancel()
	}
	// A large command's or reply's memory is not kept while the connection waits in the pool.
	if cap(d.wbuf) > keepBufBytes {
		d.wbuf = nil
	}
	d.rd.Trim()
	// Under p.mu, as close closes p.closed: a connection put back here is one close will find.
	p.mu.Lock()
	delete(p.inUse, d)
	select {
	case <-p.closed:
	default:
		if !d.broken && !d.selected {
			select {
			case p.idle <- d:
				p.mu.Unlock()
				return
			default:
			}
		}
	}
	p.mu.Unlock()
	d.discard()
}

// full reports whether every connection the pool may have is in use (not dials that hang).
func (p *pool) full() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse) == cap(p.slots)
}

// errAbandoned: the request a connection was being waited for is complete (its caller gave up).
var errAbandoned = errors.New("actoredis: abandoned while waiting for a dedicated connection")

// discard closes the connection and frees its slot.
func (d *Dedicated) discard() {
	_ = closeConn(d.nc)
	<-d.pool.slots
}

// runBlocking runs a blocking command from the pipeline on a dedicated connection and completes
// its future. It waits for a free connection no longer than the command timeout, nor past its
// Until.
func (p *pool) runBlocking(r *Request) {
	ctx := r.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	wait := p.opts.CommandTimeout
	if !r.Until.IsZero() {
		wait = min(wait, time.Until(r.Until))
	}
	if wait <= 0 { // past its deadline already: not run, even on an idle connection
		r.FailHere(&ConnError{Addr: p.opts.Addr, Command: r.Name(), Err: ErrTimeout})
		return
	}
	getCtx, cancel := context.WithTimeout(ctx, wait)
	d, err := p.get(getCtx, r.Done())
	cancel()
	if errors.Is(err, errAbandoned) {
		return // its caller stopped waiting: it is complete already, and was never written
	}
	if err != nil {
		// The command timeout passed, not the caller's ctx: the wait for a connection, or a dial
		// whose socket deadline, set to the same instant, may say so a hair before getCtx does.
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
			if p.full() && errors.Is(err, context.DeadlineExceeded) {
				r.FailHere(commandError(p.opts.Addr, r.Name(), ErrPoolFull))
				return
			}
			err = fmt.Errorf("%w (%w)", ErrTimeout, err) // keeping the dial's cause
		}
		r.FailHere(&ConnError{Addr: p.opts.Addr, Command: r.Name(), Err: err})
		return
	}
	if r.IsDone() {
		d.Release()
		return // abandoned while waiting for a connection: never written
	}
	v, err := p.runOn(ctx, d, r)
	// Back in the pool before the caller hears: a caller's next blocking command finds it idle
	// rather than dialling another.
	d.Release()
	if se, ok := err.(*resp.Error); ok && r.Owner != nil && Returnable(se) { //nolint:errorlint // the server's reply, as Dedicated.Do returns it
		// Offered to the Owner as a shared connection's reader offers it (returnError): a caller
		// who gets it as a retry's last error knows where it came from. Without an Owner
		// (Node.Do) the reply stays bare, as on a shared connection.
		err = offered(p.opts.Addr, r.Name(), se)
	}
	if err != nil {
		r.FailHere(err)
		return
	}
	r.CompleteHere(v, nil)
}

// runOn runs r's blocking command on d, interrupted when r's caller stops waiting, and returns
// the reply or the error the caller is to get.
func (p *pool) runOn(ctx context.Context, d *Dedicated, r *Request) (resp.Value, error) {
	args, over := lessWait(r.Args, r.held)
	if over {
		// Sent again after servers held it for its whole timeout (its slot moved, or UNBLOCKED,
		// as it ran out): what the timeout answers.
		return resp.Null(), nil
	}
	// A caller that stops waiting (AwaitContext) completes r: interrupt the command then, or it
	// would hold the connection and later take data (an element, a message) nobody receives.
	// A server that answers nothing is caught by Do: CommandTimeout past the command's own timeout.
	// With a timeout of 0 it waits until answered, abandoned or closed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	abandoned := r.Done()
	go func() {
		select {
		case <-abandoned:
			cancel()
		case <-ctx.Done():
		}
	}()
	var (
		v   resp.Value
		err error
	)
	if r.Asking { // redirected by ASK: ASKING goes first on the same connection
		_, err = d.Do(ctx, "ASKING")
	}
	if err == nil {
		start := time.Now()
		v, err = d.Do(ctx, args...)
		if err != nil {
			held := time.Since(start) // the server held it as asked
			r.held += held
			if !r.Until.IsZero() {
				r.Until = r.Until.Add(held) // see Until
			}
		}
		if err != nil && r.Asking && !WasWritten(err) {
			d.broken = true // its ASKING would apply to the next user's command
		}
	}
	if err != nil && d.broken && isClosed(p) {
		err = &ConnError{Addr: p.opts.Addr, Command: r.Name(), Written: true, Err: ErrClosed}
	}
	return v, err
}

func isClosed(p *pool) bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}
