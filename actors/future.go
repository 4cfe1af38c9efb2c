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
// Future must not be copied after Init. All methods are safe for concurrent use, except that a
// detached Future (see Detach) is awaited by its owner alone. The Value it returns owns its
// memory and stays valid for as long as the Future is reachable.
type Future struct {
	wait   sync.Mutex // locked by Init, unlocked on completion: Await blocks on it
	state  atomic.Uint32
	chMu   sync.Mutex
	ch     chan struct{} // made only when Done or AwaitContext needs it
	closed bool          // guarded by chMu: the result is in
	val    resp.Value
	err    error
	inline [InlineSize]byte

	detached bool                         // replies are cloned out, never stored in inline: the owner reuses the future
	byReply  bool                         // completed by CompleteFrom: the reader that did it holds f no longer
	here     bool                         // completed by CompleteFrom or CompleteHere: the observer may run on the completer's goroutine
	taken    bool                         // detached only, owner's: the wake token of this use was received (beside the bools: a node request stays in the 448-byte size class)
	wake     chan struct{}                // detached only: a token on completion, the completer's last touch of f; kept across reuse
	inFlight atomic.Pointer[atomic.Int64] // when set (CountIn), decremented once: on completion or by Uncount
	observer Observer                     // when set (Observe), told of the completion before any waiter wakes
}

// Observer hears of a Future's completion (see Future.Observe).
type Observer interface {
	// Completed is called once, with the error the Future completed with (nil for a reply),
	// before any waiter wakes: on the goroutine that completes the Future by CompleteFrom or
	// CompleteHere (a connection's reader, a blocking command's goroutine, a caller reading its
	// own reply); for any other completion (which may come from an actor), on a goroutine the
	// Observer's Go starts. The Future counts as done (IsDone) meanwhile.
	Completed(err error)
	// Go runs fn on a goroutine of its own, which the Observer may count (to wait for it).
	Go(fn func())
}

// NewFuture returns a pending Future.
func NewFuture() *Future {
	f := &Future{}
	f.Init()
	return f
}

// Init makes a zero (or reused) Future pending. Call it once, before the Future is shared.
func (f *Future) Init() { f.wait.Lock() }

// CountIn adds f to n, a count of futures in flight, which f's completion decrements before any
// waiter wakes. Call it once, before f is shared (not on a future that is reused). It returns n
// with f counted.
func (f *Future) CountIn(n *atomic.Int64) int64 {
	f.inFlight.Store(n)
	return n.Add(1)
}

// Uncount takes f out of the count CountIn put it in, before its completion: for work that may
// wait long without holding up anything else, such as a blocking command on a connection of its
// own. f is taken out once, whichever comes first of Uncount and the completion.
func (f *Future) Uncount() {
	if f.inFlight.Load() == nil { // the common case, a future never counted: no atomic write
		return
	}
	if n := f.inFlight.Swap(nil); n != nil {
		n.Add(-1)
	}
}

// Observe makes o hear of f's completion. Call it before f is shared; Reuse forgets it.
func (f *Future) Observe(o Observer) { f.observer = o }

// Observed reports whether f has an Observer.
func (f *Future) Observed() bool { return f.observer != nil }

// Detach makes f keep every reply in memory of its own, never inside f, so a value it returned
// stays valid after f is reused (see Reuse). Call it before Init; Reuse keeps it. A detached
// future has one waiter, its owner: Await and AwaitContext then wait on a channel kept across
// reuses, which also tells them that the completer is done with f.
func (f *Future) Detach() {
	f.detached = true
	f.wake = make(chan struct{}, 1)
}

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
// copied into the future without allocating (unless f is detached).
//
// Its caller must be the last holder of f: the reader of a connection, which drops a request once
// its reply is in. That is what makes a future completed this way reusable (see Reusable).
func (f *Future) CompleteFrom(v resp.Value) bool {
	if !f.state.CompareAndSwap(pending, completing) {
		return false
	}
	switch {
	case v.IsError():
		f.err = v.Err()
	case f.detached:
		f.val = v.Clone()
	default:
		f.val = v.CloneInto(f.inline[:])
	}
	f.byReply, f.here = true, true
	f.finish()
	return true
}

// Fail completes f with err if it is still pending.
func (f *Future) Fail(err error) { f.Complete(resp.Value{}, err) }

// CompleteHere is Complete by a goroutine that may run f's Observer itself: one that is no
// actor's (a connection's reader with a unit's replies or an error reply, a blocking command's
// own goroutine).
func (f *Future) CompleteHere(v resp.Value, err error) bool {
	if !f.state.CompareAndSwap(pending, completing) {
		return false
	}
	f.val, f.err, f.here = v, err, true
	f.finish()
	return true
}

func (f *Future) finish() {
	if f.observer != nil {
		if !f.here {
			// Completed by an actor perhaps, whose goroutine the observer (the user's code behind
			// it) must not hold up.
			f.observer.Go(f.observe)
			return
		}
		f.observer.Completed(f.err)
	}
	f.release()
}

// observe tells the observer of f's completion, then wakes f's waiters.
func (f *Future) observe() {
	defer f.release() // whatever the observer does: a runtime.Goexit is no recover's to stop
	f.observer.Completed(f.err)
}

// release marks f complete and wakes its waiters.
func (f *Future) release() {
	f.Uncount()
	f.state.Store(completed)
	f.chMu.Lock()
	f.closed = true
	if f.ch != nil {
		close(f.ch)
	}
	f.chMu.Unlock()
	f.wait.Unlock()
	if f.wake != nil {
		// Never blocks: one completion per use, one token, taken by the owner's wait. It is the
		// completer's last touch of f, so once the owner has it f may be reused.
		f.wake <- struct{}{}
	}
}

// Reusable reports whether f, once awaited, may be reused: it is detached and a reply completed it,
// so no one else holds it. A future completed any other way (a timeout, a cancellation, a failed
// connection) may still sit in a connection's queue, where its late reply would land: it must be
// left to the garbage collector. Call it after Await returned.
func (f *Future) Reusable() bool { return f.detached && f.byReply }

// Reuse makes a Reusable future, awaited by its owner, ready for Init again. Await took the wake
// token, so the completer is done with f; a wait on Done alone did not, and Reuse takes it.
func (f *Future) Reuse() {
	f.takeToken()
	f.val, f.err, f.byReply, f.here = resp.Value{}, nil, false, false
	f.ch, f.closed, f.taken, f.observer = nil, false, false, nil
	f.state.Store(pending)
}

// takeToken waits for a detached future's completion token, once per use. Owner only.
func (f *Future) takeToken() {
	if !f.taken {
		<-f.wake
		f.taken = true
	}
}

// IsDone reports whether f has its result, or is being given it (its waiters wake soon).
func (f *Future) IsDone() bool { return f.state.Load() != pending }

// Await blocks until f is complete and returns its result. It has no timeout of its own: the owner
// of the work (a node actor) completes every future it accepted, with an error if need be.
func (f *Future) Await() (resp.Value, error) {
	if f.detached {
		f.takeToken() // it follows completion: no need to look at the lock
		return f.val, f.err
	}
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
	if f.detached {
		select {
		case <-f.wake:
			f.taken = true
		case <-ctx.Done():
			f.Fail(ctx.Err())
		}
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

// Closed returns a channel that is closed already: Done's, for a result that is in.
func Closed() <-chan struct{} { return closedChan }

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
