package dispatcher

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// A retried request that meets its deadline while written (node.ErrLateReply) fails naming the
// last error it met before, as one whose deadline comes in a backoff does; a request that met
// none keeps the node's error as it is.
func TestLateNamesTheLastErrorMet(t *testing.T) {
	late := node.ErrLateReply
	r := &Request{}
	r.Args = []any{"MGET", "a", "b"}
	assert.Nil(t, r.Late(&r.Request), "nothing met before: the node's error as it is")

	r.lastErr, r.tries = resp.ParseError("TRYAGAIN Multiple keys request during rehashing of slot"), 3
	say := r.Late(&r.Request)
	r.lastErr, r.tries = resp.ParseError("MOVED 1 127.0.0.1:1"), 4 // the request sent on since
	err := say(late)
	require.ErrorIs(t, err, node.ErrLateReply)
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, resp.ErrTryAgain)
	assert.True(t, node.WasWritten(err))
	assert.Contains(t, err.Error(), "MGET")
	assert.Contains(t, err.Error(), "after 3 retries")

	// A node's error names the node and the command: the command is not named twice.
	err = say(&node.CommandError{Addr: "127.0.0.1:1", Command: "MGET", Err: node.ErrLateReply})
	require.ErrorIs(t, err, node.ErrLateReply)
	assert.Equal(t, 1, strings.Count(err.Error(), "MGET"), "%v", err)
	assert.Contains(t, err.Error(), "node 127.0.0.1:1")
	assert.Contains(t, err.Error(), "after 3 retries; last error: TRYAGAIN")
}
