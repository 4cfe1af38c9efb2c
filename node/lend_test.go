package node

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A node actor lent an idle moment writes the command on the caller's goroutine: the write is
// counted before TryRun returns, with no Flush left for the actor's own goroutine.
func TestLentNodeWritesOnTheCallersGoroutine(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	_, err := n.Do(t.Context(), "PING")
	require.NoError(t, err)

	for deadline := time.Now().Add(10 * time.Second); ; {
		before := n.Stats().Writes
		r := NewRequest("GET", "k")
		if n.TryRun(t.Context(), r) {
			require.Equal(t, before+1, n.Stats().Writes, "TryRun returned before the command was written")
			_, err := r.Await()
			require.NoError(t, err)
			return
		}
		require.True(t, time.Now().Before(deadline), "the node actor was never idle")
		runtime.Gosched()
	}
}

// Only a command small once encoded is written on its caller's goroutine: many empty arguments
// are no payload but megabytes on the wire, and their write could block the caller past its ctx.
func TestSmallCountsTheEncodedSize(t *testing.T) {
	few := []any{"SET", "k", strings.Repeat("v", 1000)}
	assert.True(t, small(&Request{Args: few}))
	many := []any{"RPUSH", "k"}
	for len(many) < 1<<20 {
		many = append(many, "")
	}
	assert.False(t, small(&Request{Args: many}), "a million empty strings")
	assert.False(t, small(&Request{Args: few, More: [][]any{many}}), "in a unit too")
	assert.False(t, small(&Request{Args: []any{"SET", "k", strings.Repeat("v", lendBytes)}}))
}
