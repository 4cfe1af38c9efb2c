package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A TLS connection to a server that has stopped reading closes at once: tls.Conn.Close would
// first wait up to 5 s to send its close_notify alert into a full pipe, holding the node actor (or
// a discovery, or a dedicated connection's release) that long.
func TestCloseConnDoesNotWaitForAStalledTLSPeer(t *testing.T) {
	client, server := tlsPipe(t)
	// net.Pipe has no buffer: with the server reading nothing, any write blocks.
	done := make(chan error, 1)
	go func() { done <- closeConn(client) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("closeConn still waits after 2 s: it sent close_notify to a peer that reads nothing")
	}
	_, err := server.Read(make([]byte, 1))
	require.Error(t, err, "the server's side sees the connection end")
}

// tlsPipe returns both ends of a TLS connection over net.Pipe, handshake done, server
// certificate self-signed.
func tlsPipe(t *testing.T) (client, server *tls.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"node.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	server = tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	client = tls.Client(a, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // a test's own certificate
	errs := make(chan error, 1)
	go func() { errs <- server.Handshake() }()
	require.NoError(t, client.Handshake())
	require.NoError(t, <-errs)
	return client, server
}
