package dispatcher

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/node"
)

// A retry that fails for good, with nothing more to try (its blocking pool full), after a try
// that was written: the error says the command may have run. (It said nothing of the first try,
// which may have popped an element.)
func TestAFailedRetryKeepsTheWrittenTry(t *testing.T) {
	var r Request
	r.Request.Init()
	r.Args = []any{"BLPOP", "a", 0}
	r.written = true
	require.True(t, r.Return(&r.Request, &node.CommandError{Addr: "127.0.0.1:7000", Command: "BLPOP", Err: node.ErrPoolFull}))
	_, err := r.Await()
	assert.ErrorIs(t, err, node.ErrPoolFull)
	assert.True(t, node.WasWritten(err), "%v", err)
	assert.Contains(t, err.Error(), "may have run")

	var fresh Request
	fresh.Request.Init()
	fresh.Args = []any{"BLPOP", "a", 0}
	assert.False(t, fresh.Return(&fresh.Request, &node.CommandError{Addr: "127.0.0.1:7000", Command: "BLPOP", Err: node.ErrPoolFull}),
		"nothing written: the node's own error stands")

	m := &MaxRedirectionsError{Command: "SET", Hops: []string{"MOVED 1 a:1"}, Written: true}
	assert.True(t, node.WasWritten(m))
	assert.Contains(t, m.Error(), "may have run")
}
