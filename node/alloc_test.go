package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestGETAllocations asserts the GET path through the node actor — Send, encode, write, read,
// complete, Await — costs at most one allocation in steady state: the request with its future
// (the short reply is stored inside it).
func TestGETAllocations(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	_, err := srv.Do(t.Context(), "SET", "alloc:key", "a short value")
	require.NoError(t, err)
	n := startNode(t, Options{Addr: srv.Addr()})
	args := []any{"GET", "alloc:key"}
	get := func() {
		r := NewRequest(args...)
		n.Send(r)
		v, err := r.Await()
		if err != nil || string(v.Bytes()) != "a short value" { // compared without a string copy
			panic("unexpected reply")
		}
	}
	for i := 0; i < 1000; i++ { // warm up: buffers grown, goroutine stacks sized
		get()
	}
	allocs := testing.AllocsPerRun(2000, get)
	t.Logf("GET: %.2f allocations per round trip", allocs)
	assert.LessOrEqual(t, allocs, 1.0)
}
