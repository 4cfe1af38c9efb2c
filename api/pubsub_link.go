package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// link is one connection of a Subscription. Its fields are the subscription goroutine's; its
// reader goroutine only reads conn.
type link struct {
	conn  *node.SubConn
	names map[string]struct{} // subscribed, or written and not yet refused
	live  map[string]struct{} // of names, those the server has confirmed
	sent  []*sent             // commands written and not fully answered, oldest first
	// unwatch ends the watch that closes conn when the subscription ends: a link dropped must
	// not stay referenced by it for the subscription's life
	unwatch func() bool

	frames  atomic.Uint64 // frames read, counted by the reader: what the health check looks at
	handing atomic.Bool   // the reader waits to hand a message on (the user reads slowly)
	health  linkHealth
}

// sentKind is what a command written on a link was.
type sentKind int

const (
	sentSubscribe   sentKind = iota // answered by one confirmation per name
	sentUnsubscribe                 // answered by one unsubscribe frame per name
	sentPing                        // answered by one PONG
)

// sent is one command written: its names, and how many frames answering it are still due. Each
// is answered in the order written, by its frames or by one error.
type sent struct {
	kind  sentKind
	names []string
	left  int
}

// linkHealth is what the health check knows of a link (see subRun.checkHealth).
type linkHealth struct {
	frames   uint64    // link.frames at the last check that saw it change
	heard    time.Time // when that check was
	pingedAt time.Time // when the check wrote a PING not answered yet; zero if none
}

type linkEventKind int

const (
	linkConfirmed linkEventKind = iota // the server confirmed name
	linkDropped                        // the server unsubscribed name: its slot moved, or Remove asked
	linkRefused                        // the server refused the oldest unconfirmed command: se
	linkLost                           // the connection failed (err); the reader has ended
	linkPong                           // the server answered a PING
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
		l.frames.Add(1)
		ok := true
		switch {
		case v.IsError():
			ok = send(ctx, events, linkEvent{link: l, kind: linkRefused, se: l.conn.ErrorReply(v)})
		case isPong(v):
			ok = send(ctx, events, linkEvent{link: l, kind: linkPong})
		case v.Kind() != resp.KindPush && v.Kind() != resp.KindArray || v.Len() < 3:
			// a push of another kind
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
		return l.hand(ctx, in, Message{Channel: text(1), Payload: text(2)})
	case "pmessage":
		if v.Len() >= 4 {
			return l.hand(ctx, in, Message{Pattern: text(1), Channel: text(2), Payload: text(3)})
		}
	case "subscribe", "psubscribe", "ssubscribe":
		return send(ctx, events, linkEvent{link: l, kind: linkConfirmed, name: text(1)})
	case "unsubscribe", "punsubscribe", "sunsubscribe":
		return send(ctx, events, linkEvent{link: l, kind: linkDropped, name: text(1)})
	}
	return true
}

// hand passes m to the pump, saying meanwhile that the reader waits on the user, not on the
// server: the health check leaves the connection alone then.
func (l *link) hand(ctx context.Context, in chan<- Message, m Message) bool {
	l.handing.Store(true)
	defer l.handing.Store(false)
	return send(ctx, in, m)
}

// isPong reports whether v answers a PING: PONG on RESP3, ["pong", ""] on RESP2 (a subscribed
// connection's form).
func isPong(v resp.Value) bool {
	switch v.Kind() {
	case resp.KindSimpleString:
		return string(v.Bytes()) == "PONG"
	case resp.KindArray, resp.KindPush:
		return v.Len() == 2 && string(v.Index(0).Bytes()) == "pong"
	}
	return false
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
