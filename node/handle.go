package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/resp"
)

// Node is the handle of one node actor: the way to send it commands and to close it.
// It is safe for concurrent use.
type Node struct {
	addr   string
	sys    *actors.System
	pid    *actor.PID
	wg     *sync.WaitGroup
	closed atomic.Bool
	stats  *counters
	pool   *pool
	lender *actors.Lender
}

type counters struct {
	commands, writes atomic.Uint64
	live             atomic.Pointer[conn] // the connection in use, nil while there is none (see TryRun)
	// the connection's events (emit): connections made ready, lost or closed, dials failed
	connects, disconnects, dialErrors atomic.Uint64
	// readOnly is what the node's pipelined connection is to say to the server: READONLY (reads
	// of a replica) or READWRITE (see SetReadOnly). Here, it outlives an actor restarted after a
	// panic, which dials with it.
	readOnly atomic.Bool
	// downSince is when the node last lost its connection (or started), in Unix nanoseconds, while
	// no dial has failed since; downLong once one has. Read with live (see DownFor).
	downSince atomic.Int64
}

// downLong is counters.downSince once a dial has failed: the node has been down for long.
const downLong = 1

// downFor is Node.DownFor. A connection its reader found failed counts as down since then, as
// in Node.Connected, though the actor has yet to detach it and set downSince.
func (c *counters) downFor(now time.Time) time.Duration {
	if live := c.live.Load(); live != nil {
		if !live.lost.Load() {
			return 0
		}
		return max(now.Sub(time.Unix(0, live.lostAt.Load())), 1)
	}
	return now.Sub(time.Unix(0, c.downSince.Load()))
}

// AnywherePatience is how long a command any node takes (Request.Anywhere) waits for a node
// without a connection before it is given back to its Owner, when no dial has failed meanwhile
// (one that fails gives it back at once). A connection lost is most often one the server or a
// proxy closed, and the node is back within milliseconds.
const AnywherePatience = 500 * time.Millisecond

// errNoConnection is why a command waiting AnywherePatience was given back.
var errNoConnection = fmt.Errorf("no connection for %s, the dial still in progress", AnywherePatience)

// Start spawns the node actor for opts.Addr in sys and starts connecting. Commands sent before the
// connection is ready wait in the offline queue.
func Start(sys *actors.System, opts Options) (*Node, error) {
	if opts.Addr == "" {
		return nil, errors.New("actoredis: node: empty address")
	}
	opts = opts.withDefaults()
	wg := &sync.WaitGroup{}
	stats := &counters{}
	stats.readOnly.Store(opts.ReadOnly)
	stats.downSince.Store(time.Now().UnixNano())
	p := newPool(opts, &stats.readOnly)
	root := sys.Root()
	lender := &actors.Lender{}
	pid, err := sys.Spawn("", func() actor.Actor { return newActor(opts, root, wg, stats, p) },
		actors.SpawnOptions{NotifyDrained: opts.flushOnDrained, Lender: lender})
	if err != nil {
		return nil, err
	}
	return &Node{addr: opts.Addr, sys: sys, pid: pid, wg: wg, stats: stats, pool: p, lender: lender}, nil
}

// SetReadOnly makes the node's pipelined connection, and those it dials next, READONLY (on: the
// server is a replica, whose reads the client wants) or READWRITE (off: a master, or one the map
// says is, whose reads must be its own: a master demoted by a failover the map has not seen then
// answers MOVED to a read, where with READONLY it would serve it as a replica, unchecked). It
// sends nothing when the setting does not change. A server refusing the command (an ACL) has the
// connection replaced, the refusal the EventDisconnect's cause: the next one says it in its
// handshake. The dedicated connections it dials next say it too, and an idle one dialled with the
// other setting is closed rather than reused.
func (n *Node) SetReadOnly(on bool) {
	if n.stats.readOnly.Swap(on) != on {
		n.sys.Root().Send(n.pid, setReadOnlyMessage)
	}
}

// Addr returns the server's "host:port".
func (n *Node) Addr() string { return n.addr }

// Connected reports whether the node has a connection up now (two atomic loads). A connection its
// reader found failed is not, though its actor has yet to hear of it: the reader gives back what
// was written on it first, which its Owner may route again at once.
func (n *Node) Connected() bool {
	c := n.stats.live.Load()
	return c != nil && !c.lost.Load()
}

// DownFor reports how long, as of now, the node has been without a connection up: 0 while one
// is (Connected); since it lost the last one (or started) while the first dial since has not
// failed; and decades once one has. A connection lost is most often one the server or a proxy
// closed, with the server up: the node dials again at once (see DefaultBackoff), and is back
// within milliseconds.
func (n *Node) DownFor(now time.Time) time.Duration { return n.stats.downFor(now) }

// PID returns the actor's PID, for actors that send it requests directly.
func (n *Node) PID() *actor.PID { return n.pid }

// Send hands r to the node; r's Future is completed with the reply or an error. Sending after
// Close fails r with ErrClosed (or ErrActorStopped).
func (n *Node) Send(r *Request) { n.sys.Root().Send(n.pid, r) }

// TryRun handles r on the caller's goroutine, writing it there, and reports true when the node
// actor is idle, its connection is up with no reply due, and r is small (at most lendBytes of
// arguments): a write that cannot block then, as the socket's buffers are empty. Otherwise it does
// nothing and reports false, and r is for Send (see actors.Lender).
//
// When no goroutine is reading the connection (Options.Alone), TryRun also reads r's reply and
// completes r's Future before it returns, unless the reply takes longer than about a millisecond
// (or ctx's deadline): r's Future then completes as any other's does, and ctx is only for that
// bound. The caller must be the only one to wait for r. With r.DeferRead it reads nothing: the
// token is set aside for r's Await instead (Request.ReadHeld).
func (n *Node) TryRun(ctx context.Context, r *Request) bool {
	c := n.stats.live.Load()
	if c == nil || c.closing.Load() || c.answered.Load() != c.expected.Load() || !small(r) {
		return false
	}
	if !n.lender.TryRun(lentRequest{r}) {
		return false
	}
	if c := r.lentConn; c != nil {
		if r.DeferRead {
			c.hold(r) // r.lentConn stays: Request.ReadHeld and ReleaseHeld need it
			return true
		}
		r.lentConn = nil
		c.readLent(ctx, r)
	}
	return true
}

// lendBytes bounds the arguments of a command written on its caller's goroutine.
const lendBytes = 16 << 10

// small reports whether r's arguments, encoded, come to at most lendBytes.
func small(r *Request) bool {
	size := argBytes(r.Args)
	for _, args := range r.More {
		size += argBytes(args)
	}
	return size <= lendBytes
}

// argBytes is about what args take encoded: each argument's payload, and its header and CRLFs
// ("$<n>\r\n...\r\n", 16 bytes at most), so that a million empty strings count too.
func argBytes(args []any) int {
	size := 16 * (len(args) + 1)
	for _, a := range args {
		switch v := a.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		case *string:
			if v != nil {
				size += len(*v)
			}
		case *[]byte:
			if v != nil {
				size += len(*v)
			}
		default:
			size += 24 // a number; anything else is refused when encoded
		}
	}
	return size
}

// Do runs one command and waits for its reply or for ctx. A server error reply is returned as
// the error (*resp.Error).
func (n *Node) Do(ctx context.Context, args ...any) (resp.Value, error) {
	r := NewRequest(args...)
	r.Ctx = ctx
	n.Send(r)
	return r.AwaitContext(ctx)
}

// ReleaseQueued asks the node, if it is not connected, to fail the commands waiting for a
// connection with a *ConnError (not written) wrapping ErrReleased — which lets their owner route
// them elsewhere (after a failover, to the new master) instead of waiting for this node.
func (n *Node) ReleaseQueued() { n.sys.Root().Send(n.pid, &releaseQueued{}) }

// Dedicated takes a connection of its own from the node's bounded pool (see Dedicated), dialing one
// when fewer than Options.MaxDedicated exist, or waiting for one until ctx ends. When ctx's
// deadline passes with every connection in use, the error matches ErrPoolFull too.
func (n *Node) Dedicated(ctx context.Context) (*Dedicated, error) {
	d, err := n.pool.get(ctx, nil)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && n.pool.full() {
			err = fmt.Errorf("%w (%w)", ErrPoolFull, err)
		}
		return nil, commandError(n.addr, "dedicated connection", err)
	}
	return d, nil
}

// Stats are counters of a node's traffic, since Start, and its connections now.
type Stats struct {
	Commands    uint64 // requests written on the pipelined connection (a transaction is one)
	Writes      uint64 // write calls that carried them: Commands/Writes is the mean batch size
	Connects    uint64 // pipelined connections made ready (EventReady)
	Disconnects uint64 // pipelined connections ended: lost, dropped, or closed with the node
	DialErrors  uint64 // dials or handshakes failed (EventError)
	Connected   bool   // the pipelined connection is ready
	// the dedicated connections (blocking commands, Watch): in use, and idle in the pool
	DedicatedInUse, DedicatedIdle int
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	inUse, idle := n.pool.counts()
	return Stats{Commands: n.stats.commands.Load(), Writes: n.stats.writes.Load(),
		Connects: n.stats.connects.Load(), Disconnects: n.stats.disconnects.Load(),
		DialErrors: n.stats.dialErrors.Load(), Connected: n.Connected(),
		DedicatedInUse: inUse, DedicatedIdle: idle}
}

// Close stops the node: it accepts no more commands, writes what it holds, waits up to timeout for
// the replies still due, fails whatever is left, and returns once its goroutines have ended.
// Calling it again does nothing.
func (n *Node) Close(timeout time.Duration) error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	done := make(chan struct{})
	n.sys.Root().Send(n.pid, &closeRequest{deadline: time.Now().Add(timeout), done: done})
	select {
	case <-done:
	case <-time.After(timeout + time.Second):
		// The actor is stuck (a write blocked past its deadline?): stopping it releases the rest.
	}
	n.pool.close()
	n.sys.Stop(n.pid, timeout)
	n.wg.Wait()
	return nil
}
