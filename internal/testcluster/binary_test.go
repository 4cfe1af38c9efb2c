package testcluster_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

func TestMissingBinary(t *testing.T) {
	t.Setenv("REDIS_SERVER", filepath.Join(t.TempDir(), "no-such-redis-server"))

	c, err := testcluster.Start(context.Background(), testcluster.Options{})
	require.Nil(t, c)
	require.ErrorIs(t, err, testcluster.ErrRedisNotFound)
	require.ErrorContains(t, err, "redis-server not found (set $REDIS_SERVER or run scripts/install-redis.sh)")

	s, err := testcluster.StartStandalone(context.Background(), testcluster.Options{})
	require.Nil(t, s)
	require.ErrorContains(t, err, "scripts/install-redis.sh")
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []testcluster.Options{
		{Masters: -1},
		{Replicas: -2},
		{Users: []testcluster.User{{Name: "a b"}}},
		{ExtraConfig: []string{"maxmemory 1mb\nport 1"}},
	} {
		_, err := testcluster.Start(context.Background(), o)
		require.Error(t, err, "%+v", o)
	}
}

func TestBadExtraConfigShowsLog(t *testing.T) {
	t.Parallel()
	_, err := testcluster.StartStandalone(t.Context(), testcluster.Options{ExtraConfig: []string{"no-such-option 1"}})
	require.ErrorContains(t, err, "exited at once")
	require.ErrorContains(t, err, "no-such-option", "the error quotes the server's output")
}
