package api

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
)

// EventType names an Event.
type EventType string

// The events a Cluster reports, through OnEvent (all of them) and OnError (those with an error).
const (
	EventConnect          EventType = "connect"           // Connect succeeded: the topology is known
	EventDisconnect       EventType = "disconnect"        // Close finished (only after a successful Connect)
	EventError            EventType = "error"             // something failed that no single command reports (a refresh, a node)
	EventNodeConnect      EventType = "node-connect"      // a node's connection is up, handshake done (just before node-ready)
	EventNodeReady        EventType = "node-ready"        // a node's connection takes commands
	EventNodeReconnecting EventType = "node-reconnecting" // a node's reconnect is scheduled
	EventNodeDisconnect   EventType = "node-disconnect"   // a node's connection was lost (not when Close, or a new topology, ends the node)
	EventNodeError        EventType = "node-error"        // a node's dial or handshake failed
)

// Event is something that happened to the cluster or one of its nodes. It is a plain value.
type Event struct {
	Type EventType
	// Addr is the node's address for node events, and for an EventError of a Subscription; ""
	// for the other cluster events.
	Addr string
	// Err is the cause, for EventError, EventNodeError and EventNodeDisconnect; nil for the
	// others (EventDisconnect included).
	Err error
	// Attempt counts reconnect attempts, for node-reconnecting.
	Attempt int
}

func nodeEventType(t node.EventType) EventType {
	switch t {
	case node.EventConnect:
		return EventNodeConnect
	case node.EventReady:
		return EventNodeReady
	case node.EventReconnecting:
		return EventNodeReconnecting
	case node.EventDisconnect:
		return EventNodeDisconnect
	}
	return EventNodeError
}

// handlers is an immutable list of callbacks; registering one publishes a new list.
type handlers struct {
	onError []func(error)
	onEvent []func(Event)
}

// OnError registers f for every event with an error (a failed refresh, a node that cannot be
// reached, a node's connection lost...).
// Errors of individual commands are returned by those commands, not reported here. Handlers run on
// a goroutine of the client's, one event at a time, in the order the events happened; they should
// not block (the events after wait: past 4096 waiting, newer ones are dropped, and the count
// logged), may call Close, and a panic in one is logged (ClusterOptions.Logger) and goes no
// further. Register handlers before Connect to see every event.
func (c *Cluster) OnError(f func(error)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	h := *c.handlers.Load()
	h.onError = append(append([](func(error)){}, h.onError...), f)
	c.handlers.Store(&h)
}

// OnEvent registers f for every event, in the order they happen; see OnError for where handlers
// run. After a successful Connect, EventDisconnect is the last event, delivered before Close
// returns (unless Close was called by a handler). A Cluster whose Connect failed has no
// EventDisconnect: Connect's return is its end.
func (c *Cluster) OnEvent(f func(Event)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	h := *c.handlers.Load()
	h.onEvent = append(append([](func(Event)){}, h.onEvent...), f)
	c.handlers.Store(&h)
}

// eventQueue hands events to the handlers on a goroutine of their own, started when an event comes
// and ended when none is left. Who emits never runs a handler: not the slot map actor (which Close
// waits for, so a handler calling Close there would wait for itself), not Connect or Close.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	waiting int           // events accepted and not yet delivered: pending and the batch being delivered
	resume  *resumed      // an event whose delivery a handler's Goexit cut short
	dropped int           // events refused since the last delivery began, the queue being full
	running bool          // a delivering goroutine exists
	idle    chan struct{} // closed when that goroutine ends
	goid    atomic.Uint64 // that goroutine's id, to tell a handler's call to Close
}

// maxPendingEvents bounds the events waiting for a handler that blocks: a flapping node would
// otherwise grow the queue for as long as the handler stays blocked.
const maxPendingEvents = 4096

func (c *Cluster) emit(e Event) {
	q := &c.events
	q.mu.Lock()
	if q.waiting >= maxPendingEvents && e.Type != EventDisconnect { // the last event always goes
		q.dropped++
		q.mu.Unlock()
		return
	}
	q.pending = append(q.pending, e)
	q.waiting++
	if !q.running {
		q.running = true
		q.idle = make(chan struct{})
		go c.deliver()
	}
	q.mu.Unlock()
}

func (c *Cluster) deliver() {
	q := &c.events
	q.goid.Store(goroutineID())
	var (
		batch   []Event
		next    int       // the first event of batch not yet taken
		cur     Event     // the event being handed to the handlers
		h       *handlers // the handlers cur is handed to
		at      = -1      // the one of h that has cur (see dispatch), or -1 between events
		dropped int
		ended   bool
	)
	defer func() {
		if ended {
			return
		}
		// A handler ended this goroutine (runtime.Goexit: a test's t.FailNow, say; a panic is
		// contained by callHandler). The other handlers of its event, and the events after it,
		// still go, on a new goroutine.
		q.mu.Lock()
		if at >= 0 {
			q.resume = &resumed{e: cur, h: h, from: at + 1}
		}
		q.pending = append(append([]Event(nil), batch[next:]...), q.pending...)
		q.dropped += dropped
		q.goid.Store(0)
		go c.deliver()
		q.mu.Unlock()
	}()
	q.mu.Lock()
	r := q.resume
	q.resume = nil
	q.mu.Unlock()
	if r != nil {
		cur, h = r.e, r.h
		c.dispatch(cur, h, r.from, &at)
	}
	for {
		q.mu.Lock()
		batch, dropped, next = q.pending, q.dropped, 0
		q.pending, q.dropped = nil, 0
		if len(batch) == 0 && dropped == 0 {
			q.running = false
			q.goid.Store(0)
			close(q.idle)
			q.mu.Unlock()
			ended = true
			return
		}
		q.mu.Unlock()
		for next < len(batch) {
			cur = batch[next]
			next++
			q.mu.Lock()
			q.waiting--
			q.mu.Unlock()
			h = c.handlers.Load()
			c.dispatch(cur, h, 0, &at)
		}
		if dropped > 0 {
			c.opts.Logger.Warn("actoredis: event handlers fell behind; events dropped",
				"dropped", dropped, "queued", maxPendingEvents)
			dropped = 0
		}
	}
}

// resumed is an event some handlers had when one ended the delivering goroutine: the handlers of
// h from index from on are still to have it (h as it was then: one registered meanwhile shifts
// the indexes of a newer list).
type resumed struct {
	e    Event
	h    *handlers
	from int
}

// waitDelivered waits until every event emitted so far has reached the handlers, unless it is
// called by a handler (which would then wait for itself).
func (c *Cluster) waitDelivered() {
	q := &c.events
	q.mu.Lock()
	if !q.running || q.goid.Load() == goroutineID() {
		q.mu.Unlock()
		return
	}
	idle := q.idle
	q.mu.Unlock()
	<-idle
}

// goroutineID reads the current goroutine's id from its stack header ("goroutine 42 [running]:").
// Only the rare paths use it: starting a delivery, and Close.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// dispatch hands e to the handlers of h, the OnEvent ones then (for an error) the OnError ones,
// from the from-th of them on; at says which one has it, -1 once all have.
func (c *Cluster) dispatch(e Event, h *handlers, from int, at *int) {
	for i, f := range h.onEvent {
		if i >= from {
			*at = i
			c.callHandler("OnEvent", e, func() { f(e) })
		}
	}
	if e.Err != nil {
		for i, f := range h.onError {
			if len(h.onEvent)+i >= from {
				*at = len(h.onEvent) + i
				c.callHandler("OnError", e, func() { f(e.Err) })
			}
		}
	}
	*at = -1
}

// callHandler runs a user's handler; a panic in it is logged instead of ending the delivering
// goroutine, and with it the process.
func (c *Cluster) callHandler(kind string, e Event, call func()) {
	actors.Contain(c.opts.Logger, "actoredis: "+kind+" handler panicked", call, "event", string(e.Type), "addr", e.Addr)
}
