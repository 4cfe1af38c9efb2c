package api

import (
	"fmt"
	"testing"

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
