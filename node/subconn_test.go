package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// A subscriber's connection is the node's own kind (AUTH...), receives what is published, is not
// one of the dedicated pool's, and closes with the node: a Read waiting on it fails with ErrClosed.
func TestSubscriberConnection(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{Password: "pw"})
	n := startNode(t, Options{Addr: srv.Addr(), Password: "pw", MaxDedicated: 1})
	ctx := context.Background()
	s, err := n.Subscriber(ctx, "SUBSCRIBE")
	require.NoError(t, err)
	assert.Equal(t, srv.Addr(), s.Addr())
	require.NoError(t, s.Write("SUBSCRIBE", "ch"))
	v, err := s.Read()
	require.NoError(t, err)
	assert.Equal(t, "subscribe", v.Index(0).String())
	_, err = n.Do(ctx, "PUBLISH", "ch", "hi")
	require.NoError(t, err)
	v, err = s.Read()
	require.NoError(t, err)
	assert.Equal(t, []string{"message", "ch", "hi"}, []string{v.Index(0).String(), v.Index(1).String(), v.Index(2).String()})

	d, err := n.Dedicated(ctx) // the pool's one connection is still free
	require.NoError(t, err)
	d.Release()

	read := make(chan error, 1)
	go func() {
		_, err := s.Read()
		read <- err
	}()
	require.NoError(t, n.Close(2*time.Second))
	assert.ErrorIs(t, testwait.Recv(t, read, "the Read outlived the node"), ErrClosed)
	assert.ErrorIs(t, s.Write("PING"), ErrClosed)
	require.NoError(t, s.Close())
	_, err = n.Subscriber(ctx, "SUBSCRIBE")
	assert.ErrorIs(t, err, ErrClosed)
}
