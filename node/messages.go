package node

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/resp"
)

// Request asks a node to run one command and carries the Future its reply completes. One
// allocation holds both. Build it with NewRequest (or set the fields and call Init) and send it to
// the node with Node.Send; then Await its Future.
//
// A Request is handed over when sent: the sender must not change it afterwards.
type Request struct {
	actors.Future
	// Args is the command and its arguments (types as resp.AppendCommand accepts).
	Args []any
	// Ctx, when set, is checked before the command is written: a command whose context has ended
	// is never written and fails with the context's error.
	Ctx context.Context
	// Asking sends ASKING right before the command, back-to-back on the same connection (the
	// answer to an ASK redirect); its reply is dropped.
	Asking bool
	// Anywhere says another node takes the command too: any node of the cluster (PUBLISH, a
	// command without keys), or another of its shard (a read, when the cluster client reads from
	// replicas). One waiting for a connection is given back to its Owner as soon as a dial of the
	// node fails, or AnywherePatience passed, not kept for the next connection. (Reads of a master
	// killed waited in its node's offline queue until their deadline, its replica up.)
	Anywhere bool
	// More holds further commands written right after Args, back-to-back, with nothing between
	// them on the wire (MULTI ... EXEC). When set, the Future's value is an array of every reply
	// in order (Args's first; server errors stay error values inside it).
	More [][]any

	// MissingReturns offers a reply that may say a key is missing to the Owner as
	// ErrMissingReply, before completing the request with it: a replica's answer the cluster
	// checks with the master. Such a reply is a Nil, a Nil inside MGET's reply, an empty HGETALL,
	// HKEYS, HVALS or SMEMBERS, 0 from SCARD, LLEN, HLEN or ZCARD, -2 from TTL, PTTL, EXPIRETIME or
	// PEXPIRETIME, "none" from TYPE, or EXISTS or TOUCH counting fewer keys (see saysMissing). A
	// blocking command (XREAD BLOCK), which runs on a dedicated connection, completes with its
	// Nil: its timeout.
	MissingReturns bool

	// NameNode fails the request, for a server's error reply its Owner does not take, with a
	// *CommandError naming the node that answered (and the command), wrapping the server's error.
	NameNode bool

	// Slower is how long the server may take to run the command, when that is longer than the
	// node's command timeout (a slow script, a DEL of a huge key): the stall detection waits that
	// much longer for the replies due on the connection until its reply comes (the server sends
	// them after it has run it). Not for blocking commands, which wait as their own timeout says.
	Slower time.Duration

	// DeferRead, for a request sent now and awaited later (a lone Send), asks TryRun to set the
	// read token aside for its Await (ReadHeld) instead of reading the reply at once.
	DeferRead bool

	// Owner, when set, hears of the request's failure before its caller does: see Owner.
	Owner Owner
	// Until, when set, bounds the wait to be written: a command not yet written at Until (waiting
	// for a connection, for room on the reader's queue, or behind a write cut short) fails with
	// ErrTimeout, unwritten, even before the node's command timeout. Written with less than a
	// command timeout (less one tick of the node's clock) left, it bounds the wait for the reply
	// too: at Until the command fails with ErrLateReply, and the connection stays. The cluster sets
	// it to the command's deadline, so a command redirected late in its life does not get a whole
	// new one.
	// A blocking command (BLPOP, XREAD BLOCK...) failed or returned with an error after the server
	// held it has its Until moved on by that long: it waited as asked, and an Owner retrying it
	// moves its own deadline to the new Until.
	Until time.Time

	collected []resp.Value // replies of a unit gathered so far; the reader's
	unitFrom  string       // the address of the node whose replies completed the unit
	lentConn  *conn        // set by a lent actor that left the reply for TryRun's caller to read
	pinned    bool         // written with little time left: the actor watches its deadline (late), so it is never reused
	// watched is the mark of the one deadline watch (watchLate) that may fail r, by the node whose
	// connection holds it; 0 once r has left it, given back to its Owner (see giveBack).
	watched atomic.Uint64
	// at is the address of the node that last took r, kept only for an observed request (see
	// At): its observer may read it as r's caller gives up while a node takes r.
	at atomic.Pointer[string]

	expires  int64         // the node's tick at which it fails with ErrTimeout if still waiting offline
	holdsFor time.Duration // WAIT, WAITAOF: how long the server may hold the connection's replies
	held     time.Duration // a blocking command: how long servers held it before it was sent again
}

// NewRequest returns a Request for the command args.
func NewRequest(args ...any) *Request {
	r := &Request{Args: args}
	r.Init()
	return r
}

// Owner is a router that may send a failed request elsewhere (the cluster dispatcher). The node
// calls Return, from whichever goroutine saw the failure, with a redirect or retryable server error
// (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN), a *ConnError, or any other error the
// node itself fails the request with. Return reports whether it took the request over — it will
// complete the Future itself, typically after sending the request again — or whether err is to
// complete it now. Return must not block.
type Owner interface {
	Return(r *Request, err error) bool
}

// LateOwner is an Owner that says more of a request failed at its deadline while written on a
// connection (ErrLateReply), which the node completes without Return. The node calls Late when it
// starts watching the deadline, while it holds the request (the Owner may have it back and change
// it later); Late returns nil, or a function that makes the error to fail r with from the node's
// (typically joining the last error r met before: the TRYAGAIN its retry followed), and must not
// read r. Late must not block.
type LateOwner interface {
	Owner
	Late(r *Request) func(err error) error
}

// Fail completes the request with err, unless its Owner takes it over.
func (r *Request) Fail(err error) {
	if r.Owner != nil && r.giveBack(err) {
		return
	}
	r.Future.Fail(err)
}

// FailHere is Fail by a goroutine that may run the Future's Observer itself, one that is no
// actor's (see actors.Future.CompleteHere).
func (r *Request) FailHere(err error) {
	if r.Owner != nil && r.giveBack(err) {
		return
	}
	r.Future.CompleteHere(resp.Value{}, err)
}

// giveBack offers r and err to its Owner (Owner.Return), which may send r elsewhere: r leaves the
// deadline watch of the node that wrote it, which must not fail it there any more. A request that
// node has claimed at its deadline is not offered, and giveBack reports it taken: the node is
// failing it this instant (expireLate), as late, with what its Owner's Late adds.
func (r *Request) giveBack(err error) bool {
	if r.watched.Swap(0) == lateClaimed {
		return true
	}
	return r.Owner.Return(r, err)
}

// ReadHeld reads r's reply on the caller's goroutine, as TryRun does for a lent caller, when TryRun
// set the read token aside for r (DeferRead) and nobody has taken it back since. Otherwise it does
// nothing. ctx bounds only this read (about a millisecond at most): a slower reply is left to the
// reader goroutine. Call it before waiting for r.
func (r *Request) ReadHeld(ctx context.Context) {
	if c := r.lentConn; c != nil && r.DeferRead && c.take(r) {
		c.readLent(ctx, r)
	}
}

// ReleaseHeld hands a read token set aside for r (DeferRead) to the connection's reader goroutine:
// for a wait that will not read the reply itself (a Done channel).
func (r *Request) ReleaseHeld() {
	if c := r.lentConn; c != nil && r.DeferRead {
		c.unhold(r)
	}
}

// AnsweredBy returns the address of the node whose replies completed r, a unit (More), with their
// array; "" for a lone command. Read it only once r's Future has completed with a value (Await
// returned no error): a unit that failed (a ctx that ended) may still get its replies later.
func (r *Request) AnsweredBy() string { return r.unitFrom }

// Reusable reports whether r, once awaited, may be reused (see actors.Future.Reusable): never when
// a node still watches its deadline (see nodeActor.late).
func (r *Request) Reusable() bool {
	// pinned is read only once a reply completed r: the reader that did took r from the fifo after
	// the last write set it (or the lent caller wrote and read it on one goroutine). Completed any
	// other way (a cancelled ctx), r is not reusable anyway, and pinned may be being written.
	return r.Future.Reusable() && !r.pinned
}

// Reset prepares a request handed back to an Owner to be sent again. Its Future stays pending.
func (r *Request) Reset() {
	clear(r.collected)
	r.collected = r.collected[:0]
	r.expires = 0
}

// Reuse makes a request whose Future is Reusable, awaited by its owner, ready to be built and
// Init-ed again. Only the owner that sent it may call it.
func (r *Request) Reuse() {
	r.Future.Reuse()
	r.Args, r.Ctx, r.Asking, r.More, r.Owner, r.Until, r.MissingReturns, r.NameNode = nil, nil, false, nil, nil, time.Time{}, false, false
	r.Anywhere = false
	r.collected, r.expires, r.holdsFor, r.held, r.lentConn, r.DeferRead, r.unitFrom = nil, 0, 0, 0, nil, false, ""
	r.Slower = 0
	if r.at.Load() != nil {
		r.at.Store(nil)
	}
}

// At returns the address of the node that last took r (an observed request's only: see
// actors.Future.Observe), "" when none has.
func (r *Request) At() string {
	if a := r.at.Load(); a != nil {
		return *a
	}
	return ""
}

// ReplyError returns the server's error reply err carries as a command's answer, if any: not one
// that refused a new connection's handshake (a HandshakeError: WRONGPASS, a READONLY denied),
// which no command of the caller's met, and which a later connection, or another node, may not
// meet; nor one inside any other connection's failure (a ConnError).
func ReplyError(err error) (*resp.Error, bool) {
	var he *HandshakeError
	var ce *ConnError
	if errors.As(err, &he) || errors.As(err, &ce) {
		return nil, false
	}
	var se *resp.Error
	return se, errors.As(err, &se)
}

// Returnable reports whether a server error is one an Owner is asked about: a redirect (MOVED,
// ASK), a transient state worth a retry (TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN), a write
// refused by a replica (READONLY: a master demoted by a failover the map has not seen yet, running
// a script that writes; the replica ran no write of it), or a blocked command the server let go
// of without running it because its master became a replica (UNBLOCKED "... instance state
// changed"; not an operator's CLIENT UNBLOCK ... ERROR, which is meant for the caller).
func Returnable(e *resp.Error) bool {
	switch e.Prefix {
	case "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY":
		return true
	case "UNBLOCKED":
		return strings.Contains(e.Msg, "instance state changed")
	}
	return false
}

// Name returns the command's name for errors and logs ("GET", "CLUSTER SLOTS" keeps only "CLUSTER").
func (r *Request) Name() string { return CommandName(r.Args) }

// replies is how many replies the request's unit produces on the wire.
func (r *Request) replies() int {
	n := 1 + len(r.More)
	if r.Asking {
		n++
	}
	return n
}

// Event is something that happened to a node's connection.
type Event struct {
	Type EventType
	Addr string
	// Err is the cause of a disconnect or an error event.
	Err error
	// Attempt counts reconnect attempts since a connection last stayed up for a second or more, or
	// since the node started (reconnecting events).
	Attempt int
}

// EventType names an Event.
type EventType int

// The node events, in the order a connection lives them.
const (
	EventConnect      EventType = iota + 1 // TCP (and TLS) connection established
	EventReady                             // handshake done: commands flow
	EventDisconnect                        // the connection was lost or closed
	EventReconnecting                      // a reconnect attempt is scheduled
	EventError                             // a dial, handshake or protocol error
)

func (t EventType) String() string {
	switch t {
	case EventConnect:
		return "node-connect"
	case EventReady:
		return "node-ready"
	case EventDisconnect:
		return "node-disconnect"
	case EventReconnecting:
		return "node-reconnecting"
	case EventError:
		return "node-error"
	}
	return "node-unknown"
}

// flush ends the current write batch (sent by the actor to itself; see actor.go).
type flush struct{}

var flushMessage = &flush{}

// tick drives timeouts and health checks.
type tick struct{}

var tickMessage = &tick{}

// reconnect is the end of a backoff delay.
type reconnect struct{ gen uint64 }

// dialed carries a connection made (or not) by a dialing goroutine. If the actor stopped meanwhile
// the message becomes a dead letter and Fail closes the connection.
type dialed struct {
	gen      uint64
	conn     net.Conn
	rd       *resp.Reader
	err      error
	readOnly bool          // what its handshake set (Options.ReadOnly when dialled)
	read     *atomic.Int64 // the bytes read from it (see Options.read)
}

// setReadOnly is Node.SetReadOnly's message to the actor: the setting is in counters.readOnly.
type setReadOnly struct{}

var setReadOnlyMessage = &setReadOnly{}

// readOnlyRefused: the server answered the READONLY or READWRITE written on connection gen (see
// nodeActor.syncReadOnly) with err.
type readOnlyRefused struct {
	gen uint64
	err error
}

func (d *dialed) Fail(error) {
	if d.conn != nil {
		_ = d.conn.Close()
	}
}

// connLost reports, from the reader goroutine, that connection gen failed.
type connLost struct {
	gen uint64
	err error
}

// closeRequest starts a graceful close; done is closed when every accepted command is complete.
type closeRequest struct {
	deadline time.Time
	done     chan struct{}
}

// releaseQueued asks a node that is not connected to give back the commands waiting for it.
type releaseQueued struct{}

// readerDone tells the actor the reader of connection gen has answered everything and exited.
type readerDone struct{ gen uint64 }

// lentRequest is a request handled on its sender's goroutine (Node.TryRun): the actor writes it
// before it returns.
type lentRequest struct{ r *Request }

func (l lentRequest) Fail(err error) { l.r.Fail(err) }
