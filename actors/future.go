package actors

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/actoredis/actoredis/resp"
)

// InlineSize is how many reply bytes a Future holds without allocating: a string reply up to this
// length is copied into the future itself.
const InlineSize = 48

const (
	pending uint32 = iota
	completing
	completed
)

// Future is a one-shot result: completed exactly once with a (resp.Value, error) pair, by whoever
// comes first — the connection's reader with the reply, or a timeout, a cancellation, a failed
// connection or a stopped actor with an error. Later completions are ignored (Complete returns
// false), which is how a late reply to an abandoned wait is consumed and dropped without breaking
// the connection's reply order.
//
// A Future travels inside the message that asks for the work and is completed where the result is
// known; protoactor's RequestFuture is not used. It costs no allocation of its own when embedded in
// a request, and a short string reply is stored inline (see InlineSize).
//
// Use NewFuture, or call Init once on a Future embedded in another struct, before sharing it. A
// Future must not be copied after Init. All methods are safe for concurrent use; the Value it
// returns owns its memory and stays valid for as long as the Future is reachable.
type Future struct {
	wait   sync.Mutex // locked by Init, unlocked on completion: Await blocks on it
	state  atomic.Uint32
	chMu   sync.Mutex
	ch     chan struct{} // made only when Done or AwaitContext needs it
	closed bool          // guarded by chMu: the result is in
	val    resp.Value
	err    error
	inline [InlineSize]byte
}

// NewFuture returns a pending Future.
func NewFuture() *Future {
	f := &Future{}
	f.Init()
	return f
}

// Init makes a zero Future pending. Call it once, before the Future is shared.
func (f *Future) Init() { f.wait.Lock() }

// Complete stores (v, err) if f is still pending and reports whether it did. v must own its memory
// (see resp.Value.Clone); the reader of a connection uses CompleteFrom instead.
func (f *Future) Complete(v resp.Value, err error) bool {
	if !f.state.CompareAndSwap(pending, completing) {
		return false
	}
	f.val, f.err = v, err
	f.finish()
	return true
}

// CompleteFrom completes f with a copy of v, a Value borrowed from a resp.Reader; a server error
// reply becomes the error (*resp.Error). It reports whether f was still pending. Short strings are
// copied into the future without allocating.
func (f *Future) CompleteFrom(v resp.Value) bool {
	if !f.state.CompareAndSwap(pending, completing) {
		return false
	}
	if v.IsError() {
		f.err = v.Err()
	} else {
		f.val = v.CloneInto(f.inline[:])
	}
	f.finish()
	return true
}

// Fail completes f with err if it is still pending.
func (f *Future) Fail(err error) { f.Complete(resp.Value{}, err) }

func (f *Future) finish() {
	f.state.Store(completed)
	f.chMu.Lock()
	f.closed = true
	if f.ch != nil {
		close(f.ch)
	}
	f.chMu.Unlock()
	f.wait.Unlock()
}

// IsDone reports whether f has its result.
func (f *Future) IsDone() bool { return f.state.Load() == completed }

// Await blocks until f is complete and returns its result. It has no timeout of its own: the owner
// of the work (a node actor) completes every future it accepted, with an error if need be.
func (f *Future) Await() (resp.Value, error) {
	if f.state.Load() != completed {
		f.wait.Lock()
		f.wait.Unlock() //nolint:staticcheck // a gate, not a critical section: let other waiters through
	}
	return f.val, f.err
}

// AwaitContext waits for f or for ctx, whichever ends first. When ctx ends first it returns
// ctx.Err() and completes f with that error, so a command not yet written is never written and a
// late reply is dropped.
func (f *Future) AwaitContext(ctx context.Context) (resp.Value, error) {
	if f.state.Load() == completed || ctx.Done() == nil {
		return f.Await()
	}
	select {
	case <-f.Done():
	case <-ctx.Done():
		f.Fail(ctx.Err())
	}
	return f.Await()
}

// Done returns a channel closed when f is complete.
func (f *Future) Done() <-chan struct{} {
	f.chMu.Lock()
	defer f.chMu.Unlock()
	if f.closed {
		return closedChan
	}
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	return f.ch
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
