package dispatcher

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// Request is a command on its way through the cluster: the node request it becomes, plus what the
// dispatcher needs to follow redirects and retry. The api package embeds it in its Future, so one
// allocation carries the command, its routing state and its result.
//
// A Request belongs to one goroutine at a time — its sender, then the dispatcher, then a node —
// and is handed over by message; its Future is safe for concurrent use.
type Request struct {
	node.Request
	// Idempotent allows a retry after a connection failed with the command already written.
	Idempotent bool
	keyed      bool  // it has a key (or names a slot): its slot is slot
	multi      bool  // it has more than one key: it may meet TRYAGAIN
	heldOnce   bool  // it waited behind its slot's retries after a redirect (see heldFor)
	slot       int16 // set by each route
	// seq numbers the requests in the order the dispatcher first took them (seqs): a slot's queue
	// routes its members in that order (see join).
	seq uint64
	// Deadline bounds every retry and redirect; the dispatcher fails the request past it.
	Deadline time.Time

	disp     *Handle
	hops     []string // redirect targets followed, for ErrMaxRedirections
	tries    int      // retries after TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN or a lost connection
	readOnly bool
	written  bool       // a try was written before its connection failed: it may have run
	replica  string     // the replica it was sent to, if it was; see dispatcherActor.fromReplica
	master   *node.Node // then the master of its slot: see retryable
	toMaster bool       // its reads go to the master: a replica said a key is missing, LOADING or MASTERDOWN
	lastErr  error
	handOff  *node.Node // where a lent route sends it, once the dispatcher is free (Handle.SendAlone)
}

// seqs numbers the requests as dispatchers first take them (Request.seq). It is the package's, not
// an actor's: a dispatcher restarted after a panic goes on counting from where it was, behind the
// requests still waiting in its queues.
var seqs atomic.Uint64

// Init makes the request ready to be sent through h. Call it once, before Send.
func (r *Request) Init(h *Handle, args []any) {
	r.Request.Init()
	r.Args = args
	r.Owner = r
	r.disp = h
}

// Reuse makes a request whose Future is Reusable, awaited by its sender, ready for Init again.
func (r *Request) Reuse() {
	r.Request.Reuse()
	r.Idempotent, r.Deadline, r.keyed, r.heldOnce, r.seq = false, time.Time{}, false, false, 0
	r.disp, r.hops, r.tries, r.readOnly, r.lastErr, r.handOff, r.written = nil, nil, 0, false, nil, nil, false
	r.replica, r.master, r.toMaster = "", nil, false
}

// sentTo records that r is sent to replica, a read whose reply saying a key is missing (a Nil,
// see node.Request.MissingReturns) is then checked with master, its slot's master (see
// dispatcherActor.fromReplica); or, with nil, to a master.
func (r *Request) sentTo(replica *slotmap.Ref, master *node.Node) {
	r.replica, r.master, r.MissingReturns = "", nil, false
	if replica != nil {
		r.replica, r.master, r.MissingReturns = replica.Addr, master, true
	}
}

// Return is called by the node layer (see node.Owner) with a redirect, a retryable server error or
// a connection failure; it takes the request back to the dispatcher when a retry is possible.
func (r *Request) Return(_ *node.Request, err error) bool {
	if r.IsDone() {
		return false // abandoned by its caller (AwaitContext)
	}
	if !r.retryable(err) {
		if r.written && !node.WasWritten(err) && !errors.Is(err, node.ErrMissingReply) {
			// A retry failed for good (the blocking pool full, say), after a try written: that
			// one may have run, which the error must say.
			r.giveUp(err, r.lastErr)
			return true
		}
		return false // nothing to retry
	}
	if r.disp.closed.Load() {
		if errors.Is(err, node.ErrMissingReply) {
			return false // the replica's answer stands: it is one
		}
		// No retry once closing, and no bare MOVED or TRYAGAIN either: the command failed because
		// the client closed, which the error says first.
		r.giveUp(actors.ErrActorStopped, err)
		return true
	}
	r.disp.sys.Root().Send(r.disp.pid, &returned{req: r, err: err})
	return true
}

// retryable says whether err leaves a chance worth taking: a redirect, a transient cluster state,
// a connection failure the command certainly did not run through (or may safely run again), or a
// node that could not take it.
func (r *Request) retryable(err error) bool {
	if errors.Is(err, node.ErrMissingReply) {
		// Checked with the master, unless it is unreachable (a failover): the replica's answer, as
		// the caller would get the replica's value, rather than a wait for the new master.
		return r.master == nil || r.master.Connected()
	}
	if se, ok := node.ReplyError(err); ok {
		return node.Returnable(se)
	}
	var ce *node.ConnError
	if errors.As(err, &ce) {
		// A reply past the Limits would come back the same: not retried.
		return !ce.Written || (r.readOnly || r.Idempotent) && !resp.BrokeLimits(ce.Err)
	}
	// The node was closed (it left the cluster), its actor stopped, or it is unreachable with its
	// offline queue full (a failover under load): never written.
	return errors.Is(err, node.ErrClosed) || errors.Is(err, actors.ErrActorStopped) ||
		errors.Is(err, node.ErrOfflineQueueFull) && !r.Deadline.IsZero() // else for as long as it is down
}

// fail completes the request with err, bypassing the Owner.
func (r *Request) fail(err error) { r.Future.Fail(err) }

// MaxRedirectionsError reports a command redirected more than MaxCommandRedirections times, or a
// script or function whose redirects went round (Looped).
type MaxRedirectionsError struct {
	Command string
	Hops    []string    // "MOVED 123 host:port" / "ASK 123 host:port", in order
	Last    *resp.Error // the last redirect: errors.Is(err, resp.ErrMoved) or ErrAsk matches it
	// Written says that a try before the redirects was written before its connection failed: it
	// may have run.
	Written bool
	// Script says that the command runs a script or a function (EVAL, FCALL...): any of the
	// redirects may have been its own error reply (redis.error_reply in Lua), which the reply does
	// not tell from the server's, and which ran it: it may have run.
	Script bool
	// Looped says that such a command met a redirect it had already followed: the redirects went
	// round, and it stopped there, before MaxRedirections.
	Looped bool
}

// MayHaveRun reports Written or Script, for node.WasWritten.
func (e *MaxRedirectionsError) MayHaveRun() bool { return e.Written || e.Script }

// ErrMaxRedirections is matched by *MaxRedirectionsError.
var ErrMaxRedirections = errors.New("actoredis: too many redirections")

func (e *MaxRedirectionsError) Error() string {
	what := "too many redirections"
	if e.Looped {
		what = "redirections went round"
	}
	msg := fmt.Sprintf("actoredis: %s: %s (%d): %s", e.Command, what, len(e.Hops), strings.Join(e.Hops, " → "))
	if e.Written {
		msg += "; an earlier try was written before its connection failed (it may have run)"
	}
	if e.Script {
		msg += "; a script's own error reply may be one of them (it may have run)"
	}
	return msg
}

// Is matches ErrMaxRedirections.
func (e *MaxRedirectionsError) Is(target error) bool { return target == ErrMaxRedirections }

// Unwrap returns the last redirect (nil when unknown).
func (e *MaxRedirectionsError) Unwrap() error {
	if e.Last == nil {
		return nil
	}
	return e.Last
}

// GaveUpError reports a command the dispatcher stopped trying: its deadline passed while it was
// retried or redirected (Reason ErrTimeout; Last ErrNoRoute when no map gave its slot a node), a
// request without a deadline found no node for its slot (ErrNoRoute), or the client closed
// (actors.ErrActorStopped). Last is the last error the command met on its way (a server
// error such as TRYAGAIN, a lost connection), nil if none. errors.Is and errors.As see both Reason
// and Last. It is immutable and safe for concurrent use.
type GaveUpError struct {
	Command string
	Reason  error
	Tries   int // retries made after transient errors
	Last    error
	// Written says that a try was written before its connection failed (the command was then
	// retried, being read-only or Idempotent): it may have run, whatever the last try met.
	Written bool
}

// MayHaveRun reports Written, for node.WasWritten.
func (e *GaveUpError) MayHaveRun() bool { return e.Written }

func (e *GaveUpError) Error() string {
	msg := fmt.Sprintf("actoredis: %s: %v", e.Command, e.Reason)
	if node.NamesNode(e.Reason) {
		msg = e.Reason.Error() // it names the node and the command already
	}
	if e.Tries > 0 {
		msg += fmt.Sprintf(" after %d retries", e.Tries)
	}
	if e.Last != nil {
		msg += "; last error: " + e.Last.Error()
	}
	if e.Written {
		msg += "; an earlier try was written before its connection failed (it may have run)"
	}
	return msg
}

// Unwrap returns Reason and Last.
func (e *GaveUpError) Unwrap() []error {
	if e.Last == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Last}
}

// over reports whether r is not to be sent any more: abandoned by its caller, or past its
// deadline, when it gives up with the last error it met.
func (r *Request) over() bool {
	if r.IsDone() {
		return true
	}
	if r.pastDeadline() {
		r.giveUp(ErrTimeout, r.lastErr)
		return true
	}
	return false
}

// pastDeadline reports whether r's deadline, if it has one, has come.
func (r *Request) pastDeadline() bool {
	return !r.Deadline.IsZero() && !time.Now().Before(r.Deadline)
}

// giveUp fails r for reason, naming the command and the last error it met.
func (r *Request) giveUp(reason, last error) {
	r.fail(&GaveUpError{Command: r.Name(), Reason: reason, Tries: r.tries, Last: last, Written: r.written})
}

// ErrNodeCommand is matched when a command that acts only on the node it is sent to (FLUSHALL,
// FLUSHDB, SCAN, KEYS, DBSIZE, SCRIPT LOAD/FLUSH/EXISTS/KILL, FUNCTION LOAD/DELETE/FLUSH/RESTORE/KILL,
// CONFIG SET/RESETSTAT/REWRITE, WAIT, WAITAOF) is sent through the cluster, which would pick a
// master at random and return its answer as if it were the cluster's. Send it with Node.Do to
// each master, or to the one concerned.
var ErrNodeCommand = errors.New("actoredis: the command acts on one node only; send it with Node.Do to each master (or the one concerned)")

// ErrNoRoute is matched when no node serves a command's slot (the cluster is not fully covered):
// the command was retried by newer maps until its deadline, so the error matches ErrTimeout too.
var ErrNoRoute = errors.New("actoredis: no node serves this slot")

// ErrTimeout is matched when a command ran out of time while being retried or redirected.
var ErrTimeout = node.ErrTimeout

// ErrCrossSlotChecked is the client-side refusal of a command, or a set of keys, that spans slots:
// the server's CROSSSLOT, found before anything is sent (errors.Is matches resp.ErrCrossSlot).
var ErrCrossSlotChecked = &resp.Error{Prefix: "CROSSSLOT", Msg: "Keys in request don't hash to the same slot (checked by the client)"}

// Late gives the error of a request that met its deadline while written on a connection (see
// node.LateOwner) the last error it met before, as giveUp does at a deadline in a backoff. The
// node calls it while it holds r: what it needs is read now.
func (r *Request) Late(_ *node.Request) func(error) error {
	if r.lastErr == nil {
		return nil
	}
	name, tries, last, written := r.Name(), r.tries, r.lastErr, r.written
	return func(err error) error {
		return &GaveUpError{Command: name, Reason: err, Tries: tries, Last: last, Written: written}
	}
}

var _ node.LateOwner = (*Request)(nil)
var _ actors.Failer = (*Request)(nil)

// ClientClosed reports whether the dispatcher this request went through has been closed.
func (r *Request) ClientClosed() bool { return r.disp != nil && r.disp.closed.Load() }
