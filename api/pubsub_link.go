package api

import (
	"bytes"
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
	sent  []*sent             // commands written and not fully confirmed, oldest first
}

// sent is one subscribe command written: its names, and how many confirmations are still due.
type sent struct {
	names []string
	left  int
}

// linkEvent is what a reader tells the subscription goroutine: one of its fields is set.
type linkEvent struct {
	link      *link
	confirmed string      // the server confirmed this name
	dropped   string      // the server unsubscribed this name on its own
	refused   *resp.Error // the server refused the oldest unconfirmed command
	err       error       // the connection failed; the reader has ended
}

// read reads l's connection until it fails: messages go to the subscription's channel, the rest
// to its goroutine.
func (l *link) read(ctx context.Context, out chan<- Message, events chan<- linkEvent, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		v, err := l.conn.Read()
		if err != nil {
			l.tell(ctx, events, linkEvent{link: l, err: err})
			return
		}
		if v.IsError() {
			se := resp.ParseError(string(v.Bytes()))
			if !l.tell(ctx, events, linkEvent{link: l, refused: se}) {
				return
			}
			continue
		}
		if v.Kind() != resp.KindPush && v.Kind() != resp.KindArray || v.Len() < 3 {
			continue // a PONG, or a push of another kind
		}
		kind := v.Index(0).Bytes()
		ok := true
		switch {
		case equalAny(kind, "message", "smessage"):
			ok = deliver(ctx, out, Message{Channel: string(v.Index(1).Bytes()), Payload: string(v.Index(2).Bytes())})
		case bytes.Equal(kind, []byte("pmessage")) && v.Len() >= 4:
			ok = deliver(ctx, out, Message{Pattern: string(v.Index(1).Bytes()), Channel: string(v.Index(2).Bytes()),
				Payload: string(v.Index(3).Bytes())})
		case equalAny(kind, "subscribe", "psubscribe", "ssubscribe"):
			ok = l.tell(ctx, events, linkEvent{link: l, confirmed: string(v.Index(1).Bytes())})
		case equalAny(kind, "unsubscribe", "punsubscribe", "sunsubscribe"):
			ok = l.tell(ctx, events, linkEvent{link: l, dropped: string(v.Index(1).Bytes())})
		}
		if !ok {
			return
		}
	}
}

// tell passes ev to the subscription goroutine; false once the subscription is ending.
func (l *link) tell(ctx context.Context, events chan<- linkEvent, ev linkEvent) bool {
	select {
	case events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliver hands m to the subscription's reader, waiting while the buffer is full; false once the
// subscription is ending.
func deliver(ctx context.Context, out chan<- Message, m Message) bool {
	select {
	case out <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

func equalAny(b []byte, names ...string) bool {
	for _, n := range names {
		if string(b) == n {
			return true
		}
	}
	return false
}
