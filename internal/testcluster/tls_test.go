package testcluster_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

func TestTLSCluster(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: 1, TLS: true})
	ctx := ctxT(t, 20*time.Second)

	require.Len(t, c.Masters(), 2)
	require.Len(t, c.Replicas(), 2)
	master := c.MasterFor(keySlot(t, ctx, c.Nodes()[0], "{t}k"))
	v, err := master.Do(ctx, "CONFIG", "GET", "tls-cluster")
	require.NoError(t, err)
	require.Equal(t, []any{"tls-cluster", "yes"}, v)
	v, err = master.Do(ctx, "CONFIG", "GET", "port")
	require.NoError(t, err)
	require.Equal(t, []any{"port", "0"}, v, "no plain-text port")

	// The client config verifies the servers; the CA file holds the same CA.
	cfg := c.TLSConfig()
	require.NotNil(t, cfg)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", master.Addr(), cfg)
	require.NoError(t, err)
	_, err = conn.Write([]byte("PING\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 7)
	_, err = conn.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(buf))
	require.NoError(t, conn.Close())

	pem, err := os.ReadFile(c.CAFile())
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	conn, err = tls.Dial("tcp", "localhost:"+master.Addr()[len("127.0.0.1:"):], &tls.Config{RootCAs: pool})
	require.NoError(t, err, "the certificate is valid for localhost too")
	require.NoError(t, conn.Close())

	_, err = tls.Dial("tcp", master.Addr(), &tls.Config{ServerName: "127.0.0.1"})
	require.Error(t, err, "the system roots do not trust the test CA")

	// Replication runs over TLS too.
	_, err = master.Do(ctx, "SET", "{t}k", "v")
	require.NoError(t, err)
	v, err = master.Do(ctx, "WAIT", "1", "5000")
	require.NoError(t, err)
	require.Equal(t, int64(1), v)

	// MIGRATE runs over TLS too (tls-cluster).
	slot := keySlot(t, ctx, master, "{t}k")
	other := c.Masters()[0]
	if other == master {
		other = c.Masters()[1]
	}
	require.NoError(t, c.MigrateSlot(ctx, slot, other))
	v, err = other.Do(ctx, "GET", "{t}k")
	require.NoError(t, err)
	require.Equal(t, "v", v)
}

func TestTLSStandalone(t *testing.T) {
	t.Parallel()
	s := testcluster.NewStandalone(t, testcluster.Options{TLS: true})
	ctx := ctxT(t, 20*time.Second)
	v, err := s.Do(ctx, "PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", v)
	require.FileExists(t, s.CAFile())
	conn, err := tls.Dial("tcp", s.Addr(), s.TLSConfig())
	require.NoError(t, err)
	require.NoError(t, conn.Close())
}
