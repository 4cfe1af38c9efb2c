package api

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A queue that never runs empty (a reader always a little behind) keeps its messages in order, in
// memory that follows its length, not the number of messages that went through it.
func TestFifoMemoryFollowsItsLength(t *testing.T) {
	for _, backlog := range []int{1, 1000} {
		var q fifo
		next := 0
		for i := 0; i < backlog; i++ {
			q.push(Message{Payload: fmt.Sprint(i)})
		}
		for i := backlog; i < 200_000; i++ {
			q.push(Message{Payload: fmt.Sprint(i)})
			require.Equal(t, fmt.Sprint(next), q.front().Payload)
			q.pop()
			next++
		}
		assert.Equal(t, backlog, q.len())
		assert.LessOrEqual(t, cap(q.buf), 4*(backlog+1), "backlog %d", backlog)
	}
}

// While an Add waits the pump holds up to addingBuffer messages for a reader that does not read,
// not more; without an Add, subscriptionBuffer.
func TestPumpHoldsABoundedBacklog(t *testing.T) {
	for _, adds := range []int32{0, 1} {
		ctx, cancel := context.WithCancel(context.Background())
		in, out := make(chan Message), make(chan Message)
		var adding atomic.Int32
		adding.Store(adds)
		ready := make(chan struct{})
		close(ready)
		done := make(chan struct{})
		go func() { defer close(done); pump(ctx, in, out, ready, &adding, make(chan struct{})) }()
		limit := subscriptionBuffer
		if adds > 0 {
			limit = addingBuffer
		}
		for i := 0; i < limit; i++ {
			select {
			case in <- Message{Payload: fmt.Sprint(i)}:
			case <-time.After(10 * time.Second):
				require.FailNow(t, "the pump took no more", "adds %d, after %d messages", adds, i)
			}
		}
		select {
		case in <- Message{Payload: "one too many"}:
			assert.Fail(t, "the pump took more than its bound", "adds %d", adds)
		case <-time.After(100 * time.Millisecond): // it would have taken it at once
		}
		assert.Equal(t, "0", (<-out).Payload, "in order")
		cancel()
		<-done
	}
}
