package node

import (
	"errors"
	"fmt"
)

// Errors of the node layer. Server errors are *resp.Error and pass through untouched.
var (
	// ErrConnection is matched by every *ConnError.
	ErrConnection = errors.New("actoredis: connection failed")
	// ErrOfflineQueueFull: the node is unreachable and already holds Options.OfflineQueue commands.
	ErrOfflineQueueFull = errors.New("actoredis: offline queue full")
	// ErrTimeout: the command waited longer than Options.CommandTimeout, or was still unwritten at
	// its own deadline (Request.Until), or a write to its connection timed out.
	ErrTimeout = errors.New("actoredis: command timed out")
	// ErrLateReply: a command was written, but its deadline (Request.Until, the cluster command's
	// deadline) passed before its reply came; it may have run. It matches ErrTimeout.
	ErrLateReply = fmt.Errorf("%w: no reply by the command's deadline (it was written and may have run)", ErrTimeout)
	// ErrClosed: the node is closed.
	ErrClosed = errors.New("actoredis: node closed")
	// ErrBroken: a Dedicated connection whose earlier command failed as it waited (its ctx ended,
	// it timed out, the connection was lost) runs no more commands: what the server made of that
	// one is unknown. A ConnError (written: false) wraps it.
	ErrBroken = errors.New("actoredis: the connection was broken by an earlier command's failure")
	// ErrReleased: the node gave back a command waiting for a connection (see Node.ReleaseQueued).
	ErrReleased = errors.New("actoredis: node unreachable; command released")
	// ErrUnsupportedCommand: the command would break or reset a connection the client shares
	// between commands: SUBSCRIBE and the rest of the (un)subscribe family, MONITOR, SYNC, PSYNC,
	// REPLCONF, CLIENT REPLY, RESET, HELLO, AUTH, READONLY, READWRITE, QUIT; MULTI, EXEC, DISCARD,
	// WATCH or UNWATCH on their own, or a unit that leaves a MULTI or a WATCH open (a transaction
	// runs as a whole unit or on a Dedicated); WAIT or WAITAOF with a timeout of 0 or not below the
	// command timeout. It is refused before it is written.
	ErrUnsupportedCommand = errors.New("actoredis: command not supported on a shared connection")
	// ErrPoolFull: a blocking command waited a command timeout for one of the node's dedicated
	// connections (Options.MaxDedicated), all in use; it was not written. It matches ErrTimeout.
	ErrPoolFull = fmt.Errorf("%w: every dedicated connection stayed in use", ErrTimeout)
	// ErrReadOnlyRefused: the server refused the READONLY sent after the handshake (Options.ReadOnly),
	// an ACL denying it for one; the server's own error (NOPERM...) is wrapped too.
	ErrReadOnlyRefused = errors.New("actoredis: READONLY refused (reads from replicas need it)")
	// ErrUnsolicitedReply: the server sent a reply to no command; the connection is dropped.
	ErrUnsolicitedReply = errors.New("actoredis: reply for a command never sent")
	// ErrMissingReply is what a request with MissingReturns offers its Owner for a reply that may
	// say a key is missing (see MissingReturns).
	ErrMissingReply = errors.New("actoredis: reply may say a key is missing")
)

// HandshakeError is a server's refusal of a step of a new connection's handshake (HELLO, AUTH,
// CLIENT SETNAME, READONLY...): the connection failed, and no command of the caller's met that
// error. Err is the server's (a *resp.Error: errors.Is(err, resp.ErrWrongPass) matches it).
type HandshakeError struct {
	Step string
	Err  error
}

func (e *HandshakeError) Error() string { return e.Step + ": " + e.Err.Error() }

// Unwrap returns the server's error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// ConnError reports a command that failed because its connection did. Written says whether the
// command may have reached the server (it was written, fully or in part: it may have run) or
// certainly did not (safe to send again). It is immutable and safe for concurrent use.
type ConnError struct {
	Addr    string
	Command string
	Written bool
	Err     error
}

func (e *ConnError) Error() string {
	state := "before it was written (it did not run)"
	if e.Written {
		state = "after it was written (it may have run)"
	}
	return fmt.Sprintf("actoredis: node %s: %s: connection failed %s: %v", e.Addr, e.Command, state, e.Err)
}

// Is matches ErrConnection.
func (e *ConnError) Is(target error) bool { return target == ErrConnection }

// Unwrap returns the cause (an I/O error, a timeout, a protocol error).
func (e *ConnError) Unwrap() error { return e.Err }

// WasWritten reports whether err says the command may have reached the server: a *ConnError for a
// command written before its connection failed, ErrLateReply, or an error whose MayHaveRun says
// so (a command retried after such a failure: see dispatcher.GaveUpError). It is false for
// commands that certainly did not, and for any other error.
// Every error err wraps is looked at (errors.As would stop at the first ConnError, which may be
// another try's, or another slot's in a PartialError).
func WasWritten(err error) bool {
	return errors.Is(err, ErrLateReply) || mayHaveRun(err)
}

// mayHaveRun walks err's tree for a *ConnError written or a MayHaveRun that says so.
func mayHaveRun(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case *ConnError:
		if e.Written {
			return true
		}
	case interface{ MayHaveRun() bool }:
		if e.MayHaveRun() {
			return true
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return mayHaveRun(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if mayHaveRun(e) {
				return true
			}
		}
	}
	return false
}

// CommandError is an error the node produced itself for one command (closed, timed out, refused,
// offline queue full...): it names the node and the command. It is immutable and safe for
// concurrent use.
type CommandError struct {
	Addr    string
	Command string
	Err     error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("actoredis: node %s: %s: %v", e.Addr, e.Command, e.Err)
}

// Unwrap returns the cause: ErrClosed, ErrTimeout, ErrUnsupportedCommand and the like.
func (e *CommandError) Unwrap() error { return e.Err }

// NamesNode reports whether err already names its node and command: a *CommandError or a
// *ConnError.
func NamesNode(err error) bool {
	var ce *CommandError
	var conn *ConnError
	return errors.As(err, &ce) || errors.As(err, &conn)
}

// commandError names the node and the command in an error the node produced itself.
func commandError(addr, command string, err error) error {
	return &CommandError{Addr: addr, Command: command, Err: err}
}
