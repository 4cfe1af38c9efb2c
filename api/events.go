package api

import (
	"runtime/debug"

	"github.com/actoredis/actoredis/node"
)

// EventType names an Event.
type EventType string

// The events a Cluster reports, through OnEvent (all of them) and OnError (those with an error).
const (
	EventConnect          EventType = "connect"           // Connect succeeded: the topology is known
	EventDisconnect       EventType = "disconnect"        // Close finished
	EventError            EventType = "error"             // something failed that no single command reports (a refresh, a node)
	EventNodeConnect      EventType = "node-connect"      // a node's connection was established
	EventNodeReady        EventType = "node-ready"        // a node's handshake finished: commands flow
	EventNodeReconnecting EventType = "node-reconnecting" // a node's reconnect is scheduled
	EventNodeDisconnect   EventType = "node-disconnect"   // a node's connection was lost or closed
	EventNodeError        EventType = "node-error"        // a node's dial or handshake failed
)

// Event is something that happened to the cluster or one of its nodes. It is a plain value.
type Event struct {
	Type EventType
	// Addr is the node's address for node events, "" for cluster events.
	Addr string
	// Err is the cause, for error and disconnect events.
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

// OnError registers f for every error event (a failed refresh, a node that cannot be reached...).
// Errors of individual commands are returned by those commands, not reported here. f runs on the
// client's goroutines and must not block; a panic in it is logged (ClusterOptions.Logger) and
// goes no further. Register handlers before Connect to see every event.
func (c *Cluster) OnError(f func(error)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	h := *c.handlers.Load()
	h.onError = append(append([](func(error)){}, h.onError...), f)
	c.handlers.Store(&h)
}

// OnEvent registers f for every event, in the order they happen. f runs on the client's goroutines
// and must not block; a panic in it is logged (ClusterOptions.Logger) and goes no further.
func (c *Cluster) OnEvent(f func(Event)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	h := *c.handlers.Load()
	h.onEvent = append(append([](func(Event)){}, h.onEvent...), f)
	c.handlers.Store(&h)
}

func (c *Cluster) emit(e Event) {
	h := c.handlers.Load()
	for _, f := range h.onEvent {
		c.callHandler("OnEvent", e, func() { f(e) })
	}
	if e.Err != nil && (e.Type == EventError || e.Type == EventNodeError) {
		for _, f := range h.onError {
			c.callHandler("OnError", e, func() { f(e.Err) })
		}
	}
}

// callHandler runs a user's handler and logs a panic in it, with its stack, instead of letting it
// loose: node and refresh events reach the handlers on the slot map actor, whose restart would
// close every node and fail the commands on them, and Connect and Close emit on their caller's
// goroutine.
func (c *Cluster) callHandler(kind string, e Event, call func()) {
	defer func() {
		if r := recover(); r != nil {
			c.opts.Logger.Error("actoredis: "+kind+" handler panicked", "event", string(e.Type), "addr", e.Addr,
				"panic", r, "stack", string(debug.Stack()))
		}
	}()
	call()
}
