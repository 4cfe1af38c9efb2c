package api

import (
	"context"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// Hooks are functions of the user's that the client calls as it works, for metrics, tracing or
// logs. Each may be nil; with all of them nil the client does none of the work they need.
//
// They observe, they do not intervene: a hook cannot change or hold back a command. A hook may
// run on one of the client's goroutines (see each), holding up its work meanwhile, so it must
// return quickly, must not send a command of this client and wait for it, and must not end its
// goroutine (runtime.Goexit, a test's FailNow). A panic in one is logged (ClusterOptions.Logger)
// and goes no further. Hooks may be called from several goroutines at once.
type Hooks struct {
	// CommandDone is called once for each command sent for a caller's call, when its result is in:
	// Send, Do and everything built on them (the typed helpers, each per-slot command of MGet and
	// the like, a transaction of Tx as one), Node.Do, the commands of Scan (its SCAN pages and the
	// CLUSTER NODES it asks each master), of Script.Run (EVALSHA, and the SCRIPT EXISTS and SCRIPT
	// LOAD it may need), of Library (FCALL, FUNCTION LOAD, FUNCTION LIST), and of a Watch session
	// (its WATCH and each tx.Do, sent again through redirects or CLUSTERDOWN but reported once, as
	// their caller gets them; MULTI, each command and EXEC of tx.Exec, EXEC with the error Exec
	// returns, ErrTxFailed for a watched key changed). Commands the client sends for its own upkeep
	// (topology refreshes, handshakes, PINGs) and pub/sub are not reported.
	//
	// A command sent through the cluster (Send, Do...) is reported before its caller has its
	// result. One completed by its reply (the server's error reply included) is reported on the
	// goroutine that read it: a connection's reader, which reads no further until the hook
	// returns, or the caller's, for a reply it reads itself (see Do); a blocking command
	// (BLPOP...) on the goroutine that ran it on its connection. Any other ending (a timeout, a
	// lost connection, a refusal, its ctx ending, Close) is reported on a goroutine started for
	// the report, never on one of the client's actors; Close waits up to a second for those (and
	// for the others until they return). A transaction of Tx, Node.Do and a Watch session's
	// commands are reported on their caller's goroutine, before the call returns.
	CommandDone func(CommandDone)
}

// CommandDone is what Hooks.CommandDone is told of a command.
type CommandDone struct {
	// Name is the command's name in upper case ("GET"; "MULTI" for a transaction of Tx, reported
	// once for its MULTI, its commands and its EXEC), with its subcommand for a container
	// command ("CLUSTER NODES", "SCRIPT LOAD", "XINFO STREAM"...).
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
	// Err is the error it completed with, as its caller gets it (for Tx, the error Tx returns:
	// EXECABORT, ErrMultiRefused...; a server's error reply is a
	// *resp.Error, or for Node.Do an error that wraps one, as errors.As finds it; a ctx that
	// ended while it was in flight, ctx.Err()), nil for a reply.
	Err error
	// Ctx is the context the command was sent with: Do's, a helper's, Node.Do's, a Watch
	// session's; context.Background() for Send. A tracer may start a span under it, dated Start,
	// and end it at Start+Duration. It may have ended.
	Ctx context.Context
}

// observed has f's command, sent with ctx at start, reported to Hooks.CommandDone as f completes.
// A unit (Tx's) is not reported at its completion: Tx reports it with the error it makes of the
// replies (EXECABORT...); the observer only has its node recorded (At).
func (f *Future) observed(ctx context.Context, c *Cluster, start time.Time, report bool) {
	f.ctx, f.c, f.wall, f.mono = ctx, c, start.UnixNano(), int64(start.Sub(epoch))
	if !report {
		f.r.Observe((*unitObserver)(f))
		return
	}
	f.r.Observe((*observer)(f))
}

// unitObserver is the observer of a unit's Future: it reports nothing (see observed).
type unitObserver Future

func (o *unitObserver) Completed(error) {}

func (o *unitObserver) Go(fn func()) { (*observer)(o).Go(fn) }

// epoch is what a Future's send time counts from, on the monotonic clock, kept with the wall
// clock's reading in 16 bytes, where a time.Time takes 24: a Future of 896 bytes or less costs an
// allocation of that size class.
var epoch = time.Now()

// observer is a Future as the actors.Observer of its own completion, a type of its own so that
// Completed is not a method of Future, for its users to call.
type observer Future

// Go runs fn, the report of a command completed on an actor's goroutine, on one of its own,
// which Close waits for.
func (o *observer) Go(fn func()) {
	r := &o.c.reports
	r.start()
	go func() {
		defer r.end()
		fn()
	}()
}

// hookReports counts the reports running on goroutines of their own (observer.Go).
type hookReports struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n falls to 0; a new one when it leaves 0
}

func (r *hookReports) start() {
	r.mu.Lock()
	if r.n == 0 {
		r.idle = make(chan struct{})
	}
	r.n++
	r.mu.Unlock()
}

func (r *hookReports) end() {
	r.mu.Lock()
	if r.n--; r.n == 0 {
		close(r.idle)
	}
	r.mu.Unlock()
}

// wait waits, up to limit, for none to be running.
func (r *hookReports) wait(limit time.Duration) {
	r.mu.Lock()
	idle := r.idle
	n := r.n
	r.mu.Unlock()
	if n == 0 {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

// Completed reports the command to Hooks.CommandDone.
func (o *observer) Completed(err error) {
	f := (*Future)(o)
	f.c.report(f.ctx, f.r.Args, f.r.At(), time.Unix(0, f.wall), time.Since(epoch)-time.Duration(f.mono), f.explain(err))
}

// commandDone calls Hooks.CommandDone, if set, for a command sent with ctx at start and done now.
func (c *Cluster) commandDone(ctx context.Context, args []any, addr string, start time.Time, err error) {
	hook := c.opts.Hooks.CommandDone
	if hook == nil {
		return
	}
	c.report(ctx, args, addr, start, time.Since(start), err)
}

// reported runs do, a command of args on the node at addr run on the caller's goroutine (Node.Do,
// a Watch session's), and reports it to Hooks.CommandDone, when set, once it is done.
func (c *Cluster) reported(ctx context.Context, args []any, addr string, do func() (resp.Value, error)) (resp.Value, error) {
	if c.opts.Hooks.CommandDone == nil {
		return do()
	}
	start := time.Now()
	v, err := do()
	c.report(ctx, args, addr, start, time.Since(start), err)
	return v, err
}

// report calls Hooks.CommandDone, which is set.
func (c *Cluster) report(ctx context.Context, args []any, addr string, start time.Time, took time.Duration, err error) {
	name := hookName(args)
	defer c.hookPanicked("CommandDone", name)
	c.opts.Hooks.CommandDone(CommandDone{Name: name, Addr: addr, Start: start, Duration: took, Err: err, Ctx: ctx})
}

// hookPanicked, deferred around a hook's call, logs a panic in it and stops it there.
func (c *Cluster) hookPanicked(hook, command string) {
	if p := recover(); p != nil {
		c.opts.Logger.Error("actoredis: "+hook+" hook panicked", "command", command, "panic", p,
			"stack", string(debug.Stack()))
	}
}

// containers are the commands whose first argument is a subcommand, named with it for a hook.
var containers = map[string]bool{"ACL": true, "CLIENT": true, "CLUSTER": true, "COMMAND": true, "CONFIG": true,
	"FUNCTION": true, "LATENCY": true, "MEMORY": true, "MODULE": true, "OBJECT": true, "PUBSUB": true,
	"SCRIPT": true, "SLOWLOG": true, "XINFO": true, "XGROUP": true}

// hookName is args' command name in upper case, with its subcommand for a container command.
func hookName(args []any) string {
	name := node.CommandName(args)
	if containers[name] && len(args) > 1 {
		if sub, ok := resp.ArgText(args[1]); ok {
			return name + " " + strings.ToUpper(sub)
		}
	}
	return name
}
