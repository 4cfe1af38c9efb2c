package api

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/resp"
)

// Future is the pending result of a command sent with Cluster.Send. It is completed exactly once;
// every method is safe for concurrent use and may be called any number of times, and each call
// returns that one result. An AwaitContext whose ctx ends first completes it with ctx's error
// (see AwaitContext). Keep the *Future Send returned: a copy of it, or a zero Future, is not one
// (its Await returns ErrInvalidFuture).
type Future struct {
	r     dispatcher.Request // the command on its way, and its result
	self  *Future            // set by send: a zero Future, or a copy, has another (ErrInvalidFuture)
	argv  [inlineArgs]any    // the request's arguments, pointing into slots
	slots [inlineArgs]argSlot
	ctx   context.Context // for Hooks.CommandDone, when set (see observed): what it was sent with
	c     *Cluster
	wall  int64 // when it was sent, in Unix nanoseconds
	mono  int64 // and after epoch, on the monotonic clock
}

// Await waits for the result. It is bounded by ClusterOptions.CommandTimeout (or the command's
// longer Timeout, and a command queued behind such a one on its node may wait for it): past it the
// command fails with an error matching ErrTimeout and, when it was being retried, the last error
// it met.
// A blocking command (BLPOP, BLMOVE, XREAD BLOCK...) runs on a connection of its own and waits as
// long as its own timeout says (sent again because its slot moved, or UNBLOCKED, it waits what is
// left of it); with a timeout of 0 it waits until answered, until the context of AwaitContext
// ends, or until Close. With all ClusterOptions.MaxBlockingConns connections of its
// node in use, it fails with ErrBlockingPoolFull after CommandTimeout. One whose context ends
// while it blocks is abandoned: its connection is closed, and what the server handed it in that
// moment (the element a BLPOP popped) is lost, neither returned nor put back. The server hands an
// element to the caller blocked longest, often one whose context is ending: callers that give up
// often lose elements (a review saw 6,649 of 9,163 lost with 8 callers giving up every 0–3 ms; a
// raw client closing its socket at once lost as many). For a queue that must not lose elements,
// give the command its own timeout (BLPOP key 1) rather than a short context, or move elements
// to a processing list (BLMOVE).
// A server error reply is returned as the error (*resp.Error; errors.Is matches its prefix). A
// null reply is a Value whose IsNull is true, with a nil error (not Nil). The Value owns its
// memory: it stays valid for as long as it is kept.
func (f *Future) Await() (resp.Value, error) {
	if f.self != f {
		return resp.Value{}, ErrInvalidFuture
	}
	f.r.ReadHeld(context.Background()) // a lone Send's reply, read here (see Cluster.Send)
	v, err := f.r.Await()
	return v, f.explain(err)
}

// AwaitContext waits for the result or for ctx. When ctx ends first it returns ctx.Err() and
// completes the Future with that error, for every waiter: Done's channel is closed, and every
// Await or AwaitContext, on any goroutine, now or later, returns ctx.Err() too. A command not yet
// written is then never written, and a late reply is dropped. A command already written may have
// run: ctx.Err() says nothing either way (WasWritten is false for it).
func (f *Future) AwaitContext(ctx context.Context) (resp.Value, error) {
	if f.self != f {
		return resp.Value{}, ErrInvalidFuture
	}
	if ctx.Err() == nil {
		f.r.ReadHeld(ctx)
	}
	v, err := f.r.AwaitContext(ctx)
	return v, f.explain(err)
}

// explain makes the failures Close causes match ErrClientClosed, keeping the cause.
func (f *Future) explain(err error) error {
	if err == nil || errors.Is(err, ErrClientClosed) || !f.r.ClientClosed() {
		return err
	}
	if errors.Is(err, actors.ErrActorStopped) || errors.Is(err, node.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClientClosed, err)
	}
	return err
}

// Done returns a channel closed when the result is in.
func (f *Future) Done() <-chan struct{} {
	if f.self != f {
		return actors.Closed() // Await says why
	}
	f.r.ReleaseHeld() // whoever waits on it reads nothing: the reader goroutine does
	return f.r.Done()
}

// fail completes a Future that was never sent with err.
func (f *Future) fail(err error) {
	f.r.Request.Init()
	f.r.Future.Fail(err)
}

// reusableFutures holds the Futures Do reuses. They are detached: a reply is cloned into memory of
// its own, never kept inside the Future, so the value Do returned outlives the Future's next use.
// Do puts one back only when a reply completed it (the connection's reader, which completed it,
// holds it no longer); one failed by a timeout or a cancellation may still be queued on a
// connection, and is left to the garbage collector.
var reusableFutures = sync.Pool{New: func() any {
	f := &Future{}
	f.r.Detach()
	return f
}}

// reuse readies a Reusable Future for the next command, dropping its references to the last one's
// arguments.
func (f *Future) reuse() {
	f.r.Reuse()
	clear(f.argv[:])
	clear(f.slots[:])
	f.ctx, f.c, f.wall, f.mono = nil, nil, 0, 0
}
