package testcluster_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

func TestStandalone(t *testing.T) {
	t.Parallel()
	s := testcluster.NewStandalone(t, testcluster.Options{ExtraConfig: []string{"maxmemory 10mb"}})
	ctx := ctxT(t, 20*time.Second)

	info, err := s.Do(ctx, "INFO", "server")
	require.NoError(t, err)
	require.Contains(t, info, "redis_mode:standalone")
	v, err := s.Do(ctx, "CONFIG", "GET", "maxmemory")
	require.NoError(t, err)
	require.Equal(t, []any{"maxmemory", "10485760"}, v)
	v, err = s.Do(ctx, "CONFIG", "GET", "save")
	require.NoError(t, err)
	require.Equal(t, []any{"save", ""}, v)

	v, err = s.Do(ctx, "SET", "k", "v")
	require.NoError(t, err)
	require.Equal(t, "OK", v)
	v, err = s.Do(ctx, "DBSIZE")
	require.NoError(t, err)
	require.Equal(t, int64(1), v)
	v, err = s.Do(ctx, "GET", "missing")
	require.NoError(t, err)
	require.Nil(t, v)

	_, err = s.Do(ctx, "CLUSTER", "INFO")
	var se *testcluster.ServerError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "ERR", se.Prefix())
	require.ErrorContains(t, err, s.Addr()+": CLUSTER INFO: ERR")

	pid, port := s.PID(), s.Port()
	s.Kill()
	require.False(t, s.Running())
	require.NoError(t, s.Restart(ctx))
	require.True(t, s.Running())
	require.NotEqual(t, pid, s.PID())
	require.Equal(t, port, s.Port())
	v, err = s.Do(ctx, "DBSIZE")
	require.NoError(t, err)
	require.Equal(t, int64(0), v, "no persistence")

	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop(), "Stop is idempotent")
	require.NoDirExists(t, s.Dir())
	_, err = s.Do(ctx, "PING")
	require.Error(t, err)
}
