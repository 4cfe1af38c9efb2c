package resp

import (
	"bytes"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunked hands out its bytes at most n at a time, as a socket does.
type chunked struct {
	r io.Reader
	n int
}

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// allocatedBy returns the bytes allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A large bulk string is read straight into the arena, which doubles as the bytes arrive: about
// twice the value's size allocated in all (under three times with the race detector), where
// append's growth (a quarter at a time) allocated about five times it, and a 1 MiB GET took 5.8–6.0
// ms through a node, 0.98 ms since (BenchmarkLargeValue). Memory still follows the bytes that
// arrive: with a huge length announced and 4 MiB sent, the arena is at most twice the 4 MiB.
func TestLargeBulkCostsAboutTwiceItsSize(t *testing.T) {
	const size = 16 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	wire := append([]byte("$"+strconv.Itoa(size)+"\r\n"), payload...)
	wire = append(wire, "\r\n+after\r\n"...)
	r := NewReader(chunked{bytes.NewReader(wire), 64 << 10}, Limits{})
	var v Value
	var err error
	allocated := allocatedBy(func() { v, err = r.Read() })
	require.NoError(t, err)
	require.True(t, bytes.Equal(payload, v.Bytes()), "the value read is the value sent")
	assert.Less(t, allocated, uint64(3*size), "%d bytes allocated for a %d-byte value", allocated, size)
	v, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, "after", v.String(), "the stream stays in step")

	cut := "$500000000\r\n" + strings.Repeat("x", 4<<20)
	r = NewReader(chunked{strings.NewReader(cut), 64 << 10}, Limits{})
	_, err = r.Read()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, cap(r.buf), 2*len(cut), "the arena for %d bytes received", len(cut))
}
