package resp

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fill waits for the first byte of a reply without decoding anything: a timeout leaves the Reader
// usable, and the reply that comes later reads whole.
func TestFillTimeoutLeavesTheReaderUsable(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := NewReader(client, Limits{})

	require.NoError(t, client.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	err := r.Fill()
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "Fill returned %v", err)
	require.Zero(t, r.Buffered())

	require.NoError(t, client.SetReadDeadline(time.Time{}))
	go func() { _, _ = server.Write([]byte("$5\r\nhello\r\n")) }()
	require.NoError(t, r.Fill())
	require.Positive(t, r.Buffered())
	v, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, "hello", v.String())
}
