package api

import (
	"errors"
	"fmt"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// Client errors. Compare with errors.Is; never with ==.
var (
	// Nil is returned by the typed helpers when the server answers null (a missing key), and
	// matched by Tx's error when EXEC answers null. Do, Future.Await and Node.Do return a null
	// reply as a Value whose IsNull is true, with a nil error.
	Nil = errors.New("actoredis: nil")
	// ErrInvalidFuture: a Future not returned by Cluster.Send (a zero one), or a copy of one. Its
	// Await and AwaitContext return it, and its Done channel is closed. Keep the *Future.
	ErrInvalidFuture = errors.New("actoredis: a Future must be the one Cluster.Send returned, not a zero value or a copy")
	// ErrClientClosed: the cluster is not connected: before Connect, after a failed Connect (which
	// closes it: create a new Cluster), or after Close. The message says which.
	ErrClientClosed = errors.New("actoredis: client closed")
	// ErrRootNodesUnavailable: Connect could not discover the cluster from any root node. Each
	// root is asked in turn, and any failure counts: a root that cannot be reached or does not
	// answer within ConnectTimeout, one that refuses the credentials or a command (WRONGPASS,
	// NOPERM...), one not in cluster mode, one that reports no slots assigned. The error lists
	// each root's failure, and errors.Is matches each of them too (errors.Is(err, ErrWrongPass)
	// when a root refused the credentials).
	ErrRootNodesUnavailable = slotmap.ErrRootNodesUnavailable
	// ErrMaxRedirections: a command was redirected (MOVED, ASK) more than MaxCommandRedirections
	// times in a row, or a script or function met a redirect it had already followed (Looped); the
	// error (a *MaxRedirectionsError) lists the hops. For a script or function (Script) one of them
	// may have been its own error reply, which ran it: WasWritten says it may have run.
	ErrMaxRedirections = dispatcher.ErrMaxRedirections
	// ErrTimeout: a command did not complete within CommandTimeout.
	ErrTimeout = node.ErrTimeout
	// ErrConnection: a command's connection failed; see WasWritten for whether it may have run.
	ErrConnection = node.ErrConnection
	// ErrNodeGone: a Node handle's node has left the cluster (a later topology dropped it); take
	// a new handle from Masters, Replicas, Nodes or NodeForKey.
	ErrNodeGone = errors.New("actoredis: node left the cluster")
	// ErrOfflineQueueFull: a node that is down already held as many commands as it keeps for its
	// reconnection (1024). Only a Node's Do meets it: the cluster's commands wait there past that
	// many, in order, until their deadline (retried one by one, a caller's pipeline to a key came
	// out reordered).
	ErrOfflineQueueFull = node.ErrOfflineQueueFull
	// ErrBlockingPoolFull: a blocking command (BLPOP, XREAD BLOCK...) waited CommandTimeout for
	// a connection of its own and found all ClusterOptions.MaxBlockingConns of its node in use; it
	// was not sent. It matches ErrTimeout.
	ErrBlockingPoolFull = node.ErrPoolFull
	// ErrReadOnlyRefused: with UseReplicas, a node refused READONLY (an ACL denying it, say). Connect
	// fails with it, wrapping the server's error (NOPERM...), rather than connect to replicas that
	// would each refuse every connection.
	ErrReadOnlyRefused = node.ErrReadOnlyRefused
	// ErrNoRoute: no node served the command's slot, in every map until its deadline (the error
	// matches ErrTimeout too). Library.Load fails with it at once, not matching ErrTimeout, when
	// the client knows no master.
	ErrNoRoute = dispatcher.ErrNoRoute
	// ErrNodeCommand: a command that acts only on the node it reaches (FLUSHALL, SCAN, KEYS,
	// DBSIZE, SCRIPT LOAD, FUNCTION LOAD, CONFIG SET, WAIT...) was sent through the cluster; send
	// it with Node.Do to each master (Masters) or to the one concerned (NodeForKey).
	ErrNodeCommand = dispatcher.ErrNodeCommand
	// ErrUnsupportedCommand: the command would break or reset a connection the client shares
	// between commands (SUBSCRIBE and the rest of the (un)subscribe family, MONITOR, SYNC, PSYNC,
	// REPLCONF, CLIENT REPLY, RESET, HELLO, AUTH, READONLY, READWRITE, QUIT; MULTI, EXEC,
	// DISCARD, WATCH, UNWATCH outside a whole transaction (send one with Tx); WAIT or WAITAOF with a timeout of 0 or
	// not below CommandTimeout, or below the command's own Command.Timeout when that is longer);
	// it is refused before it is written.
	ErrUnsupportedCommand = node.ErrUnsupportedCommand
	// ErrMultiRefused: the server refused a transaction's MULTI (an ACL without @transaction, say),
	// so it queued nothing: the commands after it ran, each on its own, where they were allowed.
	// WasWritten is true for it; Tx returns their replies with it.
	ErrMultiRefused = errors.New("actoredis: MULTI refused: the transaction's commands ran on their own")
	// ErrTxFailed: a transaction run with WatchTx.Exec did not run, because a watched key changed
	// after WATCH (EXEC answered null), or its slot moved to another master (MOVED, which the map
	// has learnt), or the cluster was down (CLUSTERDOWN). Run the whole Watch again: it reads the
	// new values, where the slot is now.
	ErrTxFailed = errors.New("actoredis: transaction not run: a watched key changed, or the slot moved")
	// ErrSubscriptionGap: a Subscription's connection was lost, or the server unsubscribed a shard
	// channel whose slot moved, or the map showed a shard channel's slot on another master (the
	// connection carrying it is then opened again: all its channels see the gap); the
	// subscription is being made again, and what was published meanwhile is not received. It
	// comes as an EventError (OnError), naming the node.
	ErrSubscriptionGap = errors.New("actoredis: subscription interrupted, subscribing again: messages published meanwhile are lost")
	// ErrSubscriptionClosed: Add or Remove on a Subscription that has ended (Close, the
	// cluster's Close, or every name refused: see Subscription.Err).
	ErrSubscriptionClosed = errors.New("actoredis: the subscription has ended")
	// ErrEmptyCommand: a command with no arguments, not even a name (the server would answer it
	// with nothing); it is refused before it is written. Subscribe, PSubscribe, SSubscribe and
	// Subscription.Add given no names fail with it too.
	ErrEmptyCommand = resp.ErrEmptyCommand
)

// Server error prefixes, for errors.Is against any error a command returns.
var (
	ErrWrongType   = resp.ErrWrongType
	ErrMoved       = resp.ErrMoved
	ErrAsk         = resp.ErrAsk
	ErrCrossSlot   = resp.ErrCrossSlot
	ErrTryAgain    = resp.ErrTryAgain
	ErrClusterDown = resp.ErrClusterDown
	ErrLoading     = resp.ErrLoading
	ErrNoScript    = resp.ErrNoScript
	ErrNoAuth      = resp.ErrNoAuth
	ErrWrongPass   = resp.ErrWrongPass
	ErrReadOnly    = resp.ErrReadOnly
	ErrMasterDown  = resp.ErrMasterDown
	ErrBusy        = resp.ErrBusy
	ErrNoPerm      = resp.ErrNoPerm
	ErrExecAbort   = resp.ErrExecAbort
)

// ConfigError reports an invalid option, naming the field. It never contains a password. It is
// immutable and safe for concurrent use.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("actoredis: invalid option %s: %s", e.Field, e.Reason)
}

// MaxRedirectionsError is the error of a command redirected more than MaxCommandRedirections
// times, or of a script or function whose redirects went round (Looped); its Hops list the
// redirects followed.
type MaxRedirectionsError = dispatcher.MaxRedirectionsError

// ConnError is the error of a command whose connection failed: Addr is the node's, Command the
// command's name, Written whether it may have run (see WasWritten), Err the cause.
type ConnError = node.ConnError

// CommandError is an error of one command that names its node: Addr, Command, and Err, the
// cause (a server's error reply to Node.Do, a *resp.Error; or the node's own: closed, timed out,
// refused before it was sent...).
type CommandError = node.CommandError

// GaveUpError is the error of a command the client stopped retrying or redirecting: Command is
// its name, Reason why it stopped (ErrTimeout: its deadline passed; ErrNoRoute; the client
// closed), Tries the retries made, Last the last error it met on its way (a TRYAGAIN, a lost
// connection...), nil if none, and Written whether an earlier try was written before its
// connection failed (the command, read-only or Idempotent, was retried: it may have run, and
// WasWritten says so). errors.Is and errors.As see both Reason and Last.
type GaveUpError = dispatcher.GaveUpError

// ErrLateReply is matched when a command redirected or retried late in its life was written but
// got no reply by its deadline; it matches ErrTimeout too, and WasWritten is true for it. After a
// retry the error matches the last error met before it as well (a TRYAGAIN, say).
var ErrLateReply = node.ErrLateReply

// WasWritten reports whether err says the command was written and may have run on the server: a
// connection failure after it was written (read-only commands and commands marked Idempotent are
// then retried by the client; others return this error; a retried one's error, whatever its
// retries met, says that a try was written: GaveUpError.Written, MaxRedirectionsError.Written),
// a script's redirects (MaxRedirectionsError.Script: one may be its own reply), or no reply by
// the command's deadline after a late redirect or retry (ErrLateReply). Every error err wraps
// counts (a PartialError's slots: true when one of them may have run). It is false for an error
// that says the command did not run (safe to send again) and for every other error. False is not
// a promise that the command did not run: when the ctx of Do, AwaitContext or a helper ends while
// the command is in flight, the error is ctx.Err() alone, and the command may have been written
// and run.
func WasWritten(err error) bool { return node.WasWritten(err) || errors.Is(err, ErrMultiRefused) }
