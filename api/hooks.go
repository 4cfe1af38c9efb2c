package api

import (
	"context"
	"runtime/debug"
	"time"
)

// Hooks are functions of the user's that the client calls as it works, for metrics, tracing or
// logs. Each may be nil; with all of them nil the client does none of the work they need.
//
// They observe, they do not intervene: a hook cannot change or hold back a command. A hook runs on
// one of the client's goroutines (see each), so it must return quickly and must not wait for a
// command of this client (a Do inside a hook may wait for the goroutine running the hook). A panic
// in one is logged (ClusterOptions.Logger) and goes no further. Hooks may be called from several
// goroutines at once.
type Hooks struct {
	// CommandDone is called once for each command a caller sends, when its result is in: through
	// Send, Do and everything built on them (the typed helpers, each per-slot command of MGet and
	// the like, a transaction of Tx as one, a Script's EVALSHA and its SCRIPT LOAD, a Library's
	// FCALL...), Node.Do (so Scan's pages), and a Watch session's commands (its WATCH, the reads
	// of tx.Do, and MULTI, each command and EXEC of tx.Exec). The client's own commands
	// (topology queries, handshakes, PINGs) and pub/sub are not reported.
	//
	// A command sent through the cluster (Send, Do...) is reported on the goroutine that completes
	// it, before its caller wakes: a connection's reader goroutine for a reply, which reads no
	// further until the hook returns, or the caller's for a reply it reads itself (see Do) or for
	// its ctx ending. Node.Do and a Watch session's commands are reported on their caller's
	// goroutine, before they return.
	CommandDone func(CommandDone)
}

// CommandDone is what Hooks.CommandDone is told of a command.
type CommandDone struct {
	// Name is the command's name in upper case ("GET"; "MULTI" for a transaction of Tx, reported
	// once for its MULTI, its commands and its EXEC).
	Name string
	// Addr is the address (host:port, as dialled) of the node that took the command last: the
	// one that answered, or that it failed on; "" when it reached none (no route, an argument
	// refused, the client closed or not connected). For Node.Do and a Watch session's
	// commands, their node.
	Addr string
	// Start is when it was sent, Duration how long it took until its result was in: a reply the
	// caller of a lone Send reads at its Await (see Send) is in when it is read.
	Start    time.Time
	Duration time.Duration
	// Err is the error it completed with, as its caller gets it (a server's error reply is a
	// *resp.Error; a ctx that ended while it was in flight, ctx.Err()), nil for a reply.
	Err error
	// Ctx is the context the command was sent with: Do's, a helper's, Node.Do's, a Watch
	// session's; context.Background() for Send. A tracer may start a span under it, dated Start,
	// and end it at Start+Duration. It may have ended.
	Ctx context.Context
}

// observed has f's command, sent with ctx at start, reported to Hooks.CommandDone as f completes.
func (f *Future) observed(ctx context.Context, c *Cluster, start time.Time) {
	f.ctx, f.c, f.start = ctx, c, start
	f.r.Observe((*observer)(f))
}

// observer is a Future as the actors.Observer of its own completion, a type of its own so that
// Completed is not a method of Future, for its users to call.
type observer Future

// Completed reports the command to Hooks.CommandDone.
func (o *observer) Completed(err error) {
	f := (*Future)(o)
	f.c.commandDone(f.ctx, f.r.Name(), f.r.At(), f.start, f.explain(err))
}

// commandDone calls Hooks.CommandDone, if set, for a command sent with ctx at start and done now.
func (c *Cluster) commandDone(ctx context.Context, name, addr string, start time.Time, err error) {
	hook := c.opts.Hooks.CommandDone
	if hook == nil {
		return
	}
	defer c.hookPanicked("CommandDone", name)
	hook(CommandDone{Name: name, Addr: addr, Start: start, Duration: time.Since(start), Err: err, Ctx: ctx})
}

// hookPanicked, deferred around a hook's call, logs a panic in it and stops it there.
func (c *Cluster) hookPanicked(hook, command string) {
	if p := recover(); p != nil {
		c.opts.Logger.Error("actoredis: "+hook+" hook panicked", "command", command, "panic", p,
			"stack", string(debug.Stack()))
	}
}
