package api

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A zero Future, or a copy of the one Send returned, fails with ErrInvalidFuture, and its Done is
// closed. (A zero one's Await returned an invalid Value and no error, its Done never closed, and
// its AwaitContext killed the process: "sync: unlock of unlocked mutex". A copy of a pending one
// waited forever.)
func TestFutureNotFromSendIsRefused(t *testing.T) {
	var zero Future
	_, err := zero.Await()
	assert.ErrorIs(t, err, ErrInvalidFuture)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = zero.AwaitContext(ctx)
	assert.ErrorIs(t, err, ErrInvalidFuture)
	select {
	case <-zero.Done():
	default:
		t.Error("a zero Future's Done is not closed")
	}

	c, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:1"}}})
	require.NoError(t, err)
	f := c.Send(Cmd("GET", "k")) // before Connect: failed at once
	_, err = f.Await()
	require.ErrorIs(t, err, ErrClientClosed)
	copied := new(Future) // go vet flags a plain copy: the misuse under test, done by reflection
	reflect.ValueOf(copied).Elem().Set(reflect.ValueOf(f).Elem())
	_, err = copied.Await()
	assert.ErrorIs(t, err, ErrInvalidFuture)
}
