package dispatcher

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// messageOnly is an actor.Context that only knows its message: enough for handlers that neither
// send nor spawn.
type messageOnly struct {
	actor.Context
	msg any
}

func (c messageOnly) Message() any { return c.msg }

// backingOff returns a dispatcher holding one request in a backoff whose timer has fired (it can
// no longer be stopped), so only its retryNow would route it.
func backingOff(t *testing.T) (*dispatcherActor, *Request) {
	r := &Request{}
	r.Init(nil, []any{"GET", "k"})
	fired := time.AfterFunc(time.Hour, func() {})
	require.True(t, fired.Stop())
	q := &retryQueue{slot: -1, reqs: []*Request{r}, timer: fired, mapEnds: true}
	return &dispatcherActor{waiting: map[*retryQueue]struct{}{q: {}}}, r
}

// isWaiting reports whether r waits in one of a's retry queues.
func (a *dispatcherActor) isWaiting(r *Request) bool {
	for q := range a.waiting {
		if slices.Contains(q.reqs, r) || slices.Contains(q.held, r) {
			return true
		}
	}
	return false
}

// A stopping dispatcher fails a request whose backoff timer fired but whose retryNow it will never
// handle; a restarting one leaves it to that retryNow, which its next instance routes.
func TestStoppingFailsRequestsWhoseRetryIsInFlight(t *testing.T) {
	a, r := backingOff(t)
	a.Receive(messageOnly{msg: &actor.Stopping{}})
	require.True(t, r.IsDone())
	_, err := r.Future.Await()
	assert.ErrorIs(t, err, actors.ErrActorStopped)
	assert.Empty(t, a.waiting)

	a, r = backingOff(t)
	a.Receive(messageOnly{msg: &actor.Restarting{}})
	assert.False(t, r.IsDone())
}

// A request met TRYAGAIN for the seventh time with 400 ms of its deadline left, and drew a backoff
// longer than that: it waits out what is left (a new map meanwhile would route it at once) instead
// of giving up at once with its deadline still ahead.
func TestRetryWaitsUntilTheDeadline(t *testing.T) {
	h := idleHandle(t)
	a := &dispatcherActor{opts: Options{}.withDefaults(), h: h}
	defer a.giveUpWaiting()
	for range 20 { // the backoff is drawn at random: most draws at try 7 exceed 400 ms
		r := &Request{}
		r.Init(h, []any{"GET", "k"})
		r.tries = 6
		r.Deadline = time.Now().Add(400 * time.Millisecond)
		a.onReturned(messageOnly{}, r, &resp.Error{Prefix: "TRYAGAIN", Msg: "Multiple keys request during rehashing of slot"})
		require.False(t, r.IsDone(), "gave up with its deadline ahead")
		require.True(t, a.isWaiting(r))
	}

	late := &Request{}
	late.Init(h, []any{"GET", "k"})
	late.Deadline = time.Now().Add(-time.Millisecond)
	a.onReturned(messageOnly{}, late, &resp.Error{Prefix: "TRYAGAIN", Msg: "again"})
	_, err := late.Future.Await()
	require.ErrorIs(t, err, ErrTimeout, "past its deadline it gives up")
	require.ErrorIs(t, err, resp.ErrTryAgain)
}

// A nil *string or *[]byte key routes like any key (the node refuses the command when it writes
// it) instead of panicking the dispatcher actor.
func TestNilPointerKeyDoesNotPanic(t *testing.T) {
	spec, known := BuiltinCommands().lookupArgs("GET", nil)
	for _, k := range []any{(*string)(nil), (*[]byte)(nil)} {
		assert.NotPanics(t, func() { countKeys(spec, known, []any{"GET", k}) }, "%T", k)
	}
}

// A node that is down with its offline queue full could not take the command, which was never
// written: the dispatcher retries it (a failover under load) rather than failing it at once.
func TestOfflineQueueFullIsRetried(t *testing.T) {
	r := &Request{}
	r.Init(nil, []any{"SET", "k", "v"})
	full := fmt.Errorf("actoredis: node a:1: SET: %w", node.ErrOfflineQueueFull)
	assert.False(t, r.retryable(full), "without a deadline it would be retried for as long as the node is down")
	r.Deadline = time.Now().Add(time.Second)
	assert.True(t, r.retryable(full))
	assert.False(t, r.retryable(errors.New("something else")))
}

// A redirect or a retryable error that comes back while the client closes is not followed, and
// does not reach the caller bare either: the error says the client stopped, then what was met.
func TestReturnedWhileClosingSaysSo(t *testing.T) {
	h := &Handle{}
	h.closed.Store(true)
	r := &Request{}
	r.Init(h, []any{"GET", "k"})
	moved := &resp.Error{Prefix: "MOVED", Msg: "3999 127.0.0.1:7001"}
	require.True(t, r.Return(&r.Request, moved))
	_, err := r.Future.Await()
	require.ErrorIs(t, err, actors.ErrActorStopped)
	require.ErrorIs(t, err, resp.ErrMoved)
}

// A stopping dispatcher routes the requests waiting in a backoff once more; one that would wait
// again (its slot still has no node) gives up at once instead of starting a timer that would fire
// after Close returned, at a stopped actor.
func TestStoppingStartsNoBackoff(t *testing.T) {
	r := &Request{}
	r.Init(nil, []any{"GET", "k"})
	r.Deadline = time.Now().Add(time.Minute)
	live := time.AfterFunc(time.Hour, func() {})
	a := &dispatcherActor{
		opts:    Options{}.withDefaults(),
		snap:    &slotmap.Snapshot{Shards: []*slotmap.ShardRefs{nil}}, // no node serves any slot
		waiting: map[*retryQueue]struct{}{{slot: -1, reqs: []*Request{r}, timer: live, mapEnds: true}: {}},
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the stopping dispatcher started a backoff (it has no map or system to use): %v", p)
			}
		}()
		a.Receive(messageOnly{msg: &actor.Stopping{}})
	}()
	require.True(t, r.IsDone())
	_, err := r.Future.Await()
	assert.ErrorIs(t, err, actors.ErrActorStopped)
	assert.ErrorIs(t, err, ErrNoRoute, "the error says what it met")
	assert.Empty(t, a.waiting)
	assert.False(t, live.Stop(), "its old timer is stopped")
}

// A command whose connection failed after it was written may have run: it is retried only when
// running it again is harmless (read-only, or marked Idempotent), and never when its own reply
// broke the limits (it would meet it again).
func TestWrittenCommandsRetriedOnlyWhenHarmless(t *testing.T) {
	written := func(err error) error { return &node.ConnError{Addr: "a:1", Command: "X", Written: true, Err: err} }
	lost := written(errors.New("EOF"))
	tooLong := written(&resp.ProtocolError{Kind: resp.ErrBulkTooLong, Detail: "$9999"})
	notWritten := &node.ConnError{Addr: "a:1", Command: "X", Err: errors.New("refused")}

	r := &Request{}
	r.Init(nil, []any{"INCR", "k"})
	assert.True(t, r.retryable(notWritten), "never written: always safe")
	assert.False(t, r.retryable(lost), "a write that may have run")
	r.Idempotent = true
	assert.True(t, r.retryable(lost), "marked Idempotent")
	assert.False(t, r.retryable(tooLong))
	r.Idempotent, r.readOnly = false, true
	assert.True(t, r.retryable(lost), "read-only")
	assert.False(t, r.retryable(tooLong))
}

// The slots an ASK showed migrating are forgotten once a map shows another master serving them, or
// once their last ASK is migratingAtMost old; the others are kept, read or not.
func TestMigratingSlotsAreForgotten(t *testing.T) {
	servedBy := func(addr string) *slotmap.Snapshot { // every slot, by the one shard
		return &slotmap.Snapshot{Shards: []*slotmap.ShardRefs{{Master: &slotmap.Ref{Addr: addr}}}}
	}
	now := time.Now()
	a := &dispatcherActor{snap: servedBy("a:1"), migrating: map[int]migration{
		1: {from: "a:1", last: now.Add(-migratingAtMost - time.Second)},
		2: {from: "a:1", last: now},
		3: {from: "b:1", last: now}, // moved to a:1 since
	}}
	a.forgetMigrated()
	assert.Equal(t, []int{2}, slices.Collect(maps.Keys(a.migrating)))
	assert.True(t, a.readsOffReplicas(2))
	a.snap = servedBy("c:1")
	a.forgetMigrated()
	assert.Empty(t, a.migrating, "the slot has another master")
}

// A MOVED or an ASK that comes back once the request's deadline has come is not followed: written
// now, the command could run after its caller was told it failed. (It was followed, a review read;
// it showed a node writing an INCR past its Until, and the server running it.) What a MOVED says
// is still learnt: the map hears of it, and its slot is no longer migrating (a review of the first
// version found the map was not told).
func TestRedirectPastTheDeadlineIsNotFollowed(t *testing.T) {
	for _, reply := range []string{"MOVED 1234 10.0.0.9:7000", "ASK 1234 10.0.0.9:7000"} {
		a := &dispatcherActor{snap: &slotmap.Snapshot{}, migrating: map[int]migration{1234: {}},
			opts: Options{Map: &slotmap.Map{}, MaxRedirections: 5}}
		r := &Request{}
		r.Init(nil, []any{"INCR", "k"})
		r.Deadline = time.Now().Add(-time.Millisecond)
		se := resp.ParseError(reply)
		ctx := &sendRecorder{}
		a.redirect(ctx, r, se)
		require.True(t, r.IsDone(), reply)
		_, err := r.Future.Await()
		assert.ErrorIs(t, err, ErrTimeout, reply)
		assert.ErrorIs(t, err, se, "the redirect it met last")
		assert.False(t, node.WasWritten(err))
		if se.Prefix == "ASK" {
			assert.Empty(t, ctx.sent, "nothing sent")
			continue
		}
		require.Len(t, ctx.sent, 1)
		moved, ok := ctx.sent[0].(*slotmap.Moved)
		require.True(t, ok, "%T", ctx.sent[0])
		assert.Equal(t, 1234, moved.Slot)
		assert.Nil(t, moved.Req, "the map is told, and sends nothing on")
		assert.NotContains(t, a.migrating, 1234, "the slot has moved")
	}
}

// An ASK to a node the map had to start goes to that node, whether or not the dispatcher's
// snapshot holds it: a slot map restarted, with no topology yet, publishes none. (The request was
// routed by its slot again, to the source, which answered ASK again, until
// MaxCommandRedirections.)
func TestAskToANodeTheSnapshotLacksIsFollowed(t *testing.T) {
	sys := actors.NewSystem(nil)
	defer sys.Shutdown()
	target, err := node.Start(sys, node.Options{Addr: "127.0.0.1:1"})
	require.NoError(t, err)
	defer func() { _ = target.Close(time.Second) }()
	a := &dispatcherActor{snap: &slotmap.Snapshot{}, opts: Options{Map: &slotmap.Map{}}.withDefaults()}
	r := &Request{}
	r.Init(nil, []any{"GET", "k"})
	r.Deadline = time.Now().Add(time.Minute)
	r.Asking = true
	ctx := &sendRecorder{messageOnly: messageOnly{msg: &slotmap.Reroute{Req: &r.Request, Node: target}}}
	a.Receive(ctx)
	require.Equal(t, []any{&r.Request}, ctx.sent)
	assert.Equal(t, []*actor.PID{target.PID()}, ctx.to)
}
