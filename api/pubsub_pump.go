package api

import (
	"context"
	"sync/atomic"
)

// pump hands the readers' messages (in) to the subscription's user (out), in order. Until
// confirmed is closed (the servers confirmed the subscription, and Subscribe returns) it queues
// every message: nobody reads out yet, and a reader held up would hold up the confirmations
// behind them. After that it queues up to subscriptionBuffer, then makes the readers wait; but while an
// Add waits (adding, and loosen says when one starts) it queues up to addingBuffer, for the same
// reason: the Add's caller may be the one who reads.
func pump(ctx context.Context, in <-chan Message, out chan<- Message, confirmed <-chan struct{},
	adding *atomic.Int32, loosen <-chan struct{}) {
	var queue fifo
	for {
		var take <-chan Message
		if confirmed != nil /* not yet */ || queue.len() < subscriptionBuffer || adding.Load() > 0 && queue.len() < addingBuffer {
			take = in
		}
		var give chan<- Message
		var next Message
		if queue.len() > 0 {
			give, next = out, queue.front()
		}
		select {
		case m := <-take:
			queue.push(m)
		case give <- next:
			queue.pop()
		case <-confirmed:
			confirmed = nil
		case <-loosen:
		case <-ctx.Done():
			return
		}
	}
}

// fifo is a queue of messages whose memory follows its length, however long it stays non-empty:
// the room of the messages taken is reused.
type fifo struct {
	buf  []Message
	head int // buf[head:] is the queue
}

func (q *fifo) len() int { return len(q.buf) - q.head }

func (q *fifo) front() Message { return q.buf[q.head] }

func (q *fifo) push(m Message) {
	if q.head > 0 && len(q.buf) == cap(q.buf) && q.head >= len(q.buf)/2 {
		// Full, and half of it taken: move the queue to the front rather than grow.
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, m)
}

func (q *fifo) pop() {
	q.buf[q.head] = Message{}
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
		if cap(q.buf) > 4*subscriptionBuffer {
			q.buf = nil // a flood's, before Subscribe returned: not kept
		}
	}
}
