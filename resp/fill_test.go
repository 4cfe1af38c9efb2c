package resp

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PeekType waits for the first byte of a reply without decoding anything: a timeout leaves the
// Reader usable, and the reply that comes later reads whole.
func TestPeekTypeTimeoutLeavesTheReaderUsable(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := NewReader(client, Limits{})

	require.NoError(t, client.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err := r.PeekType()
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "PeekType returned %v", err)
	require.Zero(t, r.Buffered())

	require.NoError(t, client.SetReadDeadline(time.Time{}))
	go func() { _, _ = server.Write([]byte("$5\r\nhello\r\n")) }()
	typ, err := r.PeekType()
	require.NoError(t, err)
	require.Equal(t, byte('$'), typ)
	require.Positive(t, r.Buffered())
	v, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, "hello", v.String())
}

// valueEnd finds the end of every kind of reply, and only once the whole of it is there.
func TestValueEndOfEveryType(t *testing.T) {
	r := NewReader(strings.NewReader(""), Limits{})
	for _, tc := range everyType {
		for k := range len(tc.wire) {
			require.Equal(t, incomplete, r.valueEnd([]byte(tc.wire[:k]), 0, 0), "%s, first %d bytes", tc.name, k)
		}
		assert.Equal(t, len(tc.wire), r.valueEnd([]byte(tc.wire), 0, 0), tc.name)
		assert.Equal(t, len(tc.wire), r.valueEnd([]byte(tc.wire+"+next\r\n"), 0, 0), tc.name+", followed by another")
	}
	for _, bad := range []string{"?x\r\n", "$abc\r\n", "*x\r\n", "+no cr\n", "\r\n", strings.Repeat("*1\r\n", 100) + ":1\r\n"} {
		assert.Equal(t, notMeasurable, r.valueEnd([]byte(bad), 0, 0), "%q", bad)
	}
}

// FillValue waits for the whole reply: a reply cut short times out with nothing decoded, and
// reads whole once the rest comes. A reply larger than the buffer is ErrNotBuffered, and Read
// still reads it.
func TestFillValueWaitsForTheWholeReply(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := NewReader(client, Limits{})
	send := func(s string) {
		go func() { _, _ = server.Write([]byte(s)) }()
	}

	send("*2\r\n$5\r\nhel")
	_, err := r.PeekType()
	require.NoError(t, err)
	require.NoError(t, client.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	err = r.FillValue()
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "FillValue returned %v", err)
	require.NoError(t, client.SetReadDeadline(time.Time{}))
	send("lo\r\n:7\r\n")
	require.NoError(t, r.FillValue())
	v, err := r.Read()
	require.NoError(t, err)
	assert.True(t, Equal(Array(BulkString("hello"), Integer(7)), v), "read %s", v)

	big := strings.Repeat("x", DefaultBufferSize)
	send("$" + itoa(len(big)) + "\r\n" + big + "\r\n")
	require.ErrorIs(t, r.FillValue(), ErrNotBuffered)
	v, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, big, v.String())
}
