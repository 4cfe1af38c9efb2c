package api

import (
	"context"
	"sync"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// link is one connection of a Subscription. Its fields are the subscription goroutine's; its
// reader goroutine only reads conn.
type link struct {
	conn  *node.SubConn
	names map[string]struct{} // subscribed, or written and not yet refused
	live  map[string]struct{} // of names, those the server has confirmed
	sent  []*sent             // commands written and not fully confirmed, oldest first
	// unwatch ends the watch that closes conn when the subscription ends: a link dropped must
	// not stay referenced by it for the subscription's life
	unwatch func() bool
}

// sent is one subscribe command written: its names, and how many confirmations are still due.
type sent struct {
	names []string
	left  int
}

type linkEventKind int

const (
	linkConfirmed linkEventKind = iota // the server confirmed name
	linkDropped                        // the server unsubscribed name on its own (its slot moved)
	linkRefused                        // the server refused the oldest unconfirmed command: se
	linkLost                           // the connection failed (err); the reader has ended
)

// linkEvent is what a reader tells the subscription goroutine.
type linkEvent struct {
	link *link
	kind linkEventKind
	name string
	se   *resp.Error
	err  error
}

// read reads l's connection until it fails: messages go to the pump (in), the rest to the
// subscription goroutine (events).
func (l *link) read(ctx context.Context, in chan<- Message, events chan<- linkEvent, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		v, err := l.conn.Read()
		if err != nil {
			send(ctx, events, linkEvent{link: l, kind: linkLost, err: err})
			return
		}
		ok := true
		switch {
		case v.IsError():
			ok = send(ctx, events, linkEvent{link: l, kind: linkRefused, se: resp.ParseError(string(v.Bytes()))})
		case v.Kind() != resp.KindPush && v.Kind() != resp.KindArray || v.Len() < 3:
			// a PONG, or a push of another kind
		default:
			ok = l.frame(ctx, v, in, events)
		}
		if !ok {
			return
		}
	}
}

// frame passes on a push (or a RESP2 array): a message to the pump, a (un)subscription to the
// subscription goroutine. It returns false once the subscription is ending.
func (l *link) frame(ctx context.Context, v resp.Value, in chan<- Message, events chan<- linkEvent) bool {
	text := func(i int) string { return string(v.Index(i).Bytes()) }
	if l.conn.Closed() {
		// Dropped (lost, moved by follow, or closed by its node): what it still had buffered
		// could overtake, or come after, what the connection replacing it delivers. It is part of
		// the gap; the next Read past it fails, and says the connection is lost.
		return true
	}
	switch string(v.Index(0).Bytes()) {
	case "message", "smessage":
		return send(ctx, in, Message{Channel: text(1), Payload: text(2)})
	case "pmessage":
		if v.Len() >= 4 {
			return send(ctx, in, Message{Pattern: text(1), Channel: text(2), Payload: text(3)})
		}
	case "subscribe", "psubscribe", "ssubscribe":
		return send(ctx, events, linkEvent{link: l, kind: linkConfirmed, name: text(1)})
	case "unsubscribe", "punsubscribe", "sunsubscribe":
		return send(ctx, events, linkEvent{link: l, kind: linkDropped, name: text(1)})
	}
	return true
}

// send passes v on ch; false once ctx has ended.
func send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}
