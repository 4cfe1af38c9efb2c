package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

const (
	stateCreated int32 = iota
	stateConnected
	stateClosed
)

// Cluster is a client of one Redis Cluster: create it with CreateCluster, Connect it, send
// commands, Close it. It is safe for concurrent use.
type Cluster struct {
	opts  ClusterOptions
	roots []rootNode
	life  sync.Mutex   // serialises Connect and Close (rare calls; Send only reads state)
	state atomic.Int32 // what Send and the node handles look at
	// connectFailed: a Connect failed, and closed the Cluster (see notRunning).
	connectFailed atomic.Bool
	inDo          atomic.Int64 // callers inside Do, less those of blocking commands: one alone lends it the actors (see Do)
	// sending counts the Futures of Send not yet completed, less the blocking commands its nodes
	// have taken: a Send with none other in flight, and no caller in Do, lends the actors too (see
	// Send)
	sending atomic.Int64

	// run is what Connect started, nil before and after: a closed Cluster a caller still holds
	// holds none of it (an actor system alone is about 4.6 MiB: protoactor's process registry).
	run atomic.Pointer[running]

	hmu      sync.Mutex // serialises handler registration; readers load the immutable list
	handlers atomic.Pointer[handlers]
	events   eventQueue
	reports  hookReports // Hooks.CommandDone's calls on goroutines of their own, which Close waits for
}

// running is what Connect starts and Close stops.
type running struct {
	sys  *actors.System
	smap *slotmap.Map
	disp *dispatcher.Handle

	ending context.Context    // ended by shutdown: the subscriptions end
	end    context.CancelFunc // ends ending
	subs   sync.WaitGroup     // the subscriptions' goroutines (see Subscribe)
}

// CreateCluster validates opts and returns an unconnected Cluster. An invalid option is a
// *ConfigError naming the field.
func CreateCluster(opts ClusterOptions) (*Cluster, error) {
	roots, err := opts.validate()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, roots: roots}
	c.handlers.Store(&handlers{})
	return c, nil
}

// nodeOptions is the template every node actor is started from.
func (c *Cluster) nodeOptions() node.Options {
	o := c.opts
	user, pass := o.Defaults.Username, o.Defaults.Password
	for _, r := range c.roots {
		if user != "" || pass != "" {
			break
		}
		user, pass = r.username, r.password // the first root that has credentials (they agree)
	}
	tlsConf := o.Defaults.TLS
	if tlsConf == nil {
		for i, r := range c.roots {
			if o.RootNodes[i].TLS != nil {
				tlsConf = o.RootNodes[i].TLS
				break
			}
			if r.tls {
				tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		}
	}
	return node.Options{
		Username:       user,
		Password:       pass,
		ClientName:     o.ClientName,
		TLS:            tlsConf,
		RESP:           o.RESP,
		ReadOnly:       o.UseReplicas,
		Limits:         o.Limits,
		MaxDedicated:   o.MaxBlockingConns,
		ConnectTimeout: o.ConnectTimeout,
		CommandTimeout: o.CommandTimeout,
		Reconnect:      o.Reconnect,
		HealthCheck:    o.HealthCheckInterval,
		Dialer:         o.Dialer,
		Logger:         o.Logger,
		Alone:          c.alone,
	}
}

// mapTarget maps a redirect's announced target to the address the client dials.
func (c *Cluster) mapTarget(announced string) string {
	return slotmap.MapAddress(c.addressMap(), announced, c.opts.Logger)
}

func (c *Cluster) addressMap() func(string) string {
	if c.opts.NodeAddressMap == nil && c.opts.NodeAddressMapFunc == nil {
		return nil
	}
	return func(announced string) string {
		if f := c.opts.NodeAddressMapFunc; f != nil {
			if to := f(announced); to != "" {
				return to
			}
		}
		return c.opts.NodeAddressMap[announced]
	}
}

// Connect discovers the cluster from the root nodes, starts a connection to every node, and
// returns once a master's connection is ready. When every master is announced with no address
// the client can use ("?", and none mapped by NodeAddressMap), it returns at once with no
// connection, and commands for their slots fail with ErrNoRoute, saying why.
//
// It fails with an error matching ErrRootNodesUnavailable when discovery failed on every root
// (unreachable, credentials refused, not in cluster mode, no slots assigned...; the error lists
// each root's failure, and errors.Is matches each); with one matching ErrConnection (naming each
// master's failure) when no master can be reached within ConnectTimeout (sooner when every
// master's error will come again: an unknown host, refused credentials or permissions), as when
// the cluster announces addresses this host cannot reach (see NodeAddressMap); with one matching
// ErrReadOnlyRefused when UseReplicas is set and a node refuses READONLY (an ACL denying it); and
// with one matching ctx's error when ctx ends first. Each step is bounded by ConnectTimeout (each
// root's discovery query in turn, the wait for a master, the COMMAND query), so Connect can take
// about (roots + 2) × ConnectTimeout: bound it with ctx for less. A second call fails; a failed
// Connect leaves the Cluster closed (create a new one), with nothing it started still running
// (the events it caused have reached the handlers, unless a handler called it).
func (c *Cluster) Connect(ctx context.Context) error {
	c.life.Lock()
	err := c.connect(ctx)
	c.life.Unlock()
	if err != nil {
		c.waitDelivered() // after the lock: a handler may be calling Close
	}
	return err
}

func (c *Cluster) connect(ctx context.Context) error {
	switch c.state.Load() {
	case stateClosed:
		return c.notRunning()
	case stateConnected:
		return errors.New("actoredis: Connect called twice")
	}
	if err := ended(ctx); err != nil { // nothing started: it would only be stopped again
		c.connectFailed.Store(true)
		c.state.Store(stateClosed)
		return err
	}
	rt := &running{sys: actors.NewSystem(c.opts.Logger)}
	rt.ending, rt.end = context.WithCancel(context.Background())
	template := c.nodeOptions()
	roots := make([]string, len(c.roots))
	for i, r := range c.roots {
		roots[i] = r.addr
	}
	var err error
	reached := newContacts()
	defer reached.stop()
	rt.smap, err = slotmap.Start(rt.sys, slotmap.Options{
		Roots:           roots,
		Node:            template,
		AddressMap:      c.addressMap(),
		RefreshInterval: c.opts.TopologyRefreshInterval,
		QueryTimeout:    c.opts.ConnectTimeout,
		OnNodeEvent: func(e node.Event) {
			reached.note(e)
			c.emit(Event{Type: nodeEventType(e.Type), Addr: e.Addr, Err: namingNode(e), Attempt: e.Attempt})
		},
		OnError: func(err error) { c.emit(Event{Type: EventError, Err: err}) },
		Logger:  c.opts.Logger,
	})
	if err == nil {
		if err = rt.smap.Ready(ctx); err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("actoredis: Connect: %w, discovering the cluster from %s", err, strings.Join(roots, ", "))
		}
	}
	var ready string // a master with a connection ready, asked for COMMAND
	if err == nil {
		ready, err = c.awaitAMaster(ctx, rt, reached)
	}
	if err != nil {
		c.abandon(rt)
		return err
	}
	commands := dispatcher.BuiltinCommands()
	if masters := rt.smap.Snapshot().Masters(); ready != "" || len(masters) > 0 {
		o := template
		if o.Addr = ready; ready == "" {
			o.Addr = masters[0].Addr
		}
		// Bounded like discovery: a server that stops answering must not hold Connect forever.
		qctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
		v, qerr := node.Query(qctx, o, "COMMAND")
		cancel()
		gaveUp := ended(ctx)
		switch {
		case qerr == nil:
			commands.LearnFromCOMMAND(v)
		case gaveUp != nil: // the caller gave up: Connect fails, as it says
			c.abandon(rt)
			return gaveUp
		case errors.Is(qerr, node.ErrReadOnlyRefused):
			// Every replica's handshake sends READONLY and would be refused (the COMMAND query,
			// with the template's READONLY, hears it from a master first).
			c.abandon(rt)
			return fmt.Errorf("actoredis: Connect with UseReplicas: node %s: %w", o.Addr, qerr)
		default:
			c.opts.Logger.Warn("COMMAND failed; routing by the built-in table", "node", o.Addr, "error", qerr)
		}
	}
	rt.disp, err = dispatcher.Start(rt.sys, dispatcher.Options{
		Map:             rt.smap,
		AddressMap:      c.addressMap(),
		Commands:        commands,
		UseReplicas:     c.opts.UseReplicas,
		MaxRedirections: c.opts.MaxCommandRedirections,
		Logger:          c.opts.Logger,
		Lend:            true,
	})
	if err != nil {
		c.abandon(rt)
		return err
	}
	c.run.Store(rt)
	c.state.Store(stateConnected)
	c.emit(Event{Type: EventConnect})
	return nil
}

// Close stops the client: commands already sent are written and their replies awaited, and
// nothing it started keeps running. The waits are bounded: up to 2 s for the commands still being
// routed, up to 2 s for the slot map, then about 1 s for the replies still due (the nodes in
// parallel), and up to 1 s for the calls of Hooks.CommandDone still running on goroutines of
// their own (one that takes longer, or calls Close, runs on after it); a call running on a
// connection's reader or a blocking command's goroutine is waited for until it returns. A command sent after Close, or whose reply does not come in time, fails with an
// error matching ErrClientClosed, unless its own deadline (CommandTimeout) came first: it then
// fails as it would have without Close, with ErrTimeout. Called while Connect runs, it waits for
// Connect to return.
// Calling it again does nothing. After a successful Connect, it returns once the handlers have
// had EventDisconnect, unless a handler called it.
func (c *Cluster) Close() error {
	c.life.Lock()
	if c.state.Swap(stateClosed) == stateConnected {
		c.run.Swap(nil).shutdown()
		c.emit(Event{Type: EventDisconnect})
	}
	c.life.Unlock()
	c.waitDelivered() // after the lock: a handler may be calling Close
	c.reports.wait(time.Second)
	return nil
}

// namingNode returns e's error naming e's node, for OnError handlers, which get the error alone: a
// lost connection's cause is a bare EOF or "connection reset by peer".
func namingNode(e node.Event) error {
	if e.Err == nil || strings.Contains(e.Err.Error(), e.Addr) {
		return e.Err
	}
	if e.Type == node.EventDisconnect {
		return fmt.Errorf("actoredis: node %s: connection lost: %w", e.Addr, e.Err)
	}
	return fmt.Errorf("actoredis: node %s: %w", e.Addr, e.Err)
}

// abandon ends a failed Connect: the Cluster is closed, with nothing of rt left running.
func (c *Cluster) abandon(rt *running) {
	rt.shutdown()
	c.connectFailed.Store(true)
	c.state.Store(stateClosed)
}

// Why a Cluster with no connection running takes no command: each matches ErrClientClosed.
var (
	errNotConnected  = fmt.Errorf("%w: Connect has not been called", ErrClientClosed)
	errConnectFailed = fmt.Errorf("%w: Connect failed, which closed it (create a new Cluster)", ErrClientClosed)
)

// notRunning says why c, with no connection running, takes no command: Connect not called yet, a
// failed Connect, or Close.
func (c *Cluster) notRunning() error {
	switch {
	case c.state.Load() == stateCreated:
		return errNotConnected
	case c.connectFailed.Load():
		return errConnectFailed
	}
	return ErrClientClosed
}

// shutdown stops what rt holds: the subscriptions, then the dispatcher.
func (rt *running) shutdown() {
	rt.end()
	rt.subs.Wait()
	if rt.disp != nil {
		rt.disp.Close(2 * time.Second)
	}
	if rt.smap != nil {
		rt.smap.Close(2 * time.Second)
	}
	rt.sys.Shutdown()
}

// Send routes cmd to the node serving its slot and returns its Future at once.
//
// A Send with no other command of the client in flight (no caller in Do, every earlier Future
// of Send complete, except blocking commands such as BLPOP, which wait on connections of their
// own) routes and writes its command on its own goroutine when the actors are idle,
// as a lone caller of Do does, and the Future's Await (or AwaitContext) then reads the reply on
// its goroutine too, for up to a millisecond. Until then the connection is read by no one: the
// next command written on it, a call to Done, or the node's clock (within 100 ms) gives it back to
// its reader goroutine, so a Future awaited late, or never, holds nothing up.
func (c *Cluster) Send(cmd Command) *Future {
	f := &Future{}
	alone := f.r.CountIn(&c.sending) == 1 && c.inDo.Load() == 0
	f.r.DeferRead = alone
	c.send(context.Background(), f, cmd, nil, alone)
	return f
}

// send binds cmd into f and hands it to the dispatcher, with the commands of more after it for a
// unit (see Tx; nil for one command); a command that cannot be sent completes f with its error at
// once.
func (c *Cluster) send(ctx context.Context, f *Future, cmd Command, more [][]any, alone bool) {
	f.self = f
	now := time.Now()
	rt := c.run.Load()
	args, err := f.bind(cmd.args)
	if rt == nil {
		err = c.notRunning()
	}
	if err != nil {
		if more == nil { // a unit's caller, Tx, reports it
			c.commandDone(ctx, cmd.args, "", now, err)
		}
		f.fail(err)
		return
	}
	f.r.Init(rt.disp, args)
	if c.opts.Hooks.CommandDone != nil {
		f.observed(ctx, c, now, more == nil)
	}
	f.r.More = more
	f.r.Idempotent = cmd.idempotent
	f.r.Slower = cmd.slower(c.opts.CommandTimeout)
	f.r.Deadline = now.Add(max(c.opts.CommandTimeout, f.r.Slower))
	f.r.Until = f.r.Deadline
	if alone {
		rt.disp.SendAlone(ctx, &f.r)
		return
	}
	rt.disp.Send(&f.r)
}

// Do sends cmd and waits for its reply or for ctx. It reuses its Future once the reply is in (the
// Future never leaves Do), so a GET costs one allocation: the value's own memory. The Value owns
// that memory and stays valid for as long as it is kept. A null reply is a Value whose IsNull is
// true, with a nil error (not Nil). A server's error reply is the error, a *resp.Error
// (errors.Is matches its prefix).
//
// A Do whose ctx has ended returns the ctx's error at once and sends nothing. When ctx ends while
// the command is in flight, Do returns ctx.Err(): the command may have been written and run, and
// WasWritten is false for that error.
//
// A caller alone in Do, when the client is otherwise idle, routes and writes its command on its
// own goroutine, and no goroutine of the client is woken for it. That is done only with the
// node's connection up and no reply due, for a command of at most 16 KiB of arguments, so the
// write cannot block; otherwise the command goes the usual way. While one caller at a time uses
// Do, the connections' reader goroutines park when no reply is due, and the caller reads its
// reply itself, for up to a millisecond; a slower reply is left to the reader, and ctx ends the
// wait as usual. A lone Send does the same (see Send). A caller of a blocking command (BLPOP,
// XREAD BLOCK...), which waits on a connection of its own, is not counted: while it waits,
// another caller alone in Do still takes this path.
func (c *Cluster) Do(ctx context.Context, cmd Command) (resp.Value, error) {
	return c.do(ctx, cmd, false)
}

// do is Do; with nameNode, a server's error reply comes as a *node.CommandError naming the node
// that answered (see doAt).
func (c *Cluster) do(ctx context.Context, cmd Command, nameNode bool) (resp.Value, error) {
	if err := ended(ctx); err != nil {
		c.commandDone(ctx, cmd.args, "", time.Now(), err)
		return resp.Value{}, err // sent, it could run before the Future noticed
	}
	var callers int64
	if !node.Blocks(cmd.args) { // one that blocks waits on a connection of its own: it holds up no one
		callers = c.inDo.Add(1)
		defer c.inDo.Add(-1)
	}
	f := reusableFutures.Get().(*Future)
	f.r.NameNode = nameNode
	c.send(ctx, f, cmd, nil, callers == 1 && c.sending.Load() == 0)
	v, err := f.AwaitContext(ctx)
	if f.r.Reusable() {
		f.reuse()
		reusableFutures.Put(f)
	}
	return v, err
}

// alone reports whether at most one command is in flight, through Do or Send: the nodes' readers
// then leave replies to its caller (see node.Options.Alone). A Send's Future counts until it is
// complete (a blocking command's until its node hands it to a dedicated connection), so a reader
// that has just completed the only one finds none in flight, and parks.
func (c *Cluster) alone() bool { return c.inDo.Load()+c.sending.Load() <= 1 }

// pause waits d between two tries of a call, or until ctx ends or c closes, and says why it
// stopped early: ctx's error, or one matching ErrClientClosed; nil when it waited all of d. A call
// waiting out a migration or CLUSTERDOWN thus hears of Close at once, as one waiting in the
// dispatcher does.
func (c *Cluster) pause(ctx context.Context, d time.Duration) error {
	rt := c.run.Load()
	if rt == nil {
		return c.notRunning()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-rt.ending.Done(): // Close took rt from c.run before ending it
		return c.notRunning()
	case <-t.C:
		return nil
	}
}

// ended returns ctx.Err(), or context.DeadlineExceeded once ctx's deadline has passed even if its
// timer has not marked it done yet (a connection deadline set from it can fire first).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
