package resp

import (
	"bufio"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	assert.Equal(t, int64(DefaultMaxBulkLen), l.MaxBulkLen)
	assert.Equal(t, int64(DefaultMaxAggregateLen), l.MaxAggregateLen)
	assert.Equal(t, DefaultMaxDepth, l.MaxDepth)
	assert.Equal(t, DefaultMaxLineLen, l.MaxLineLen)
	custom := Limits{MaxBulkLen: 1, MaxAggregateLen: 2, MaxDepth: 3, MaxLineLen: 4}
	assert.Equal(t, custom, custom.withDefaults())
}

func readErr(wire string, lim Limits) error {
	_, err := NewReader(strings.NewReader(wire), lim).Read()
	return err
}

func TestBulkLimit(t *testing.T) {
	// A 10 GB header is refused at once, before a byte of payload is read.
	assert.ErrorIs(t, readErr("$10000000000\r\n", Limits{}), ErrBulkTooLong)
	assert.ErrorIs(t, readErr("!10000000000\r\n", Limits{}), ErrBulkTooLong)
	assert.ErrorIs(t, readErr("=6\r\ntxt:ab\r\n", Limits{MaxBulkLen: 5}), ErrBulkTooLong)
	assert.NoError(t, readErr("$5\r\nhello\r\n", Limits{MaxBulkLen: 5}))
	assert.ErrorIs(t, readErr("$6\r\nhello!\r\n", Limits{MaxBulkLen: 5}), ErrBulkTooLong)
}

func TestAggregateLimit(t *testing.T) {
	assert.ErrorIs(t, readErr("*4294967296\r\n", Limits{}), ErrAggregateTooLong)
	assert.ErrorIs(t, readErr("*3\r\n:1\r\n:2\r\n:3\r\n", Limits{MaxAggregateLen: 2}), ErrAggregateTooLong)
	assert.ErrorIs(t, readErr("%3\r\n", Limits{MaxAggregateLen: 2}), ErrAggregateTooLong)
	assert.ErrorIs(t, readErr("|3\r\n", Limits{MaxAggregateLen: 2}), ErrAggregateTooLong)
	assert.NoError(t, readErr("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", Limits{MaxAggregateLen: 2}))
}

func TestDepthLimit(t *testing.T) {
	deep := strings.Repeat("*1\r\n", 10_000) + ":1\r\n"
	err := readErr(deep, Limits{})
	assert.ErrorIs(t, err, ErrTooDeep)

	assert.NoError(t, readErr("*1\r\n:1\r\n", Limits{MaxDepth: 1}))
	assert.ErrorIs(t, readErr("*1\r\n*1\r\n:1\r\n", Limits{MaxDepth: 1}), ErrTooDeep)
	assert.ErrorIs(t, readErr("*1\r\n%1\r\n+k\r\n:1\r\n", Limits{MaxDepth: 1}), ErrTooDeep)
	// Nested attributes count as nesting too.
	assert.ErrorIs(t, readErr("|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n", Limits{MaxDepth: 1}), ErrTooDeep)
}

func TestManyAttributesDoNotGrowTheStack(t *testing.T) {
	// 100k attributes in a row before one value: read in a loop, not by recursion.
	wire := strings.Repeat("|0\r\n", 100_000) + "+x\r\n"
	v, err := NewReader(strings.NewReader(wire), Limits{}).Read()
	require.NoError(t, err)
	assert.Equal(t, "x", v.String())
	_, ok := v.Attributes()
	assert.True(t, ok)
}

func TestLineLimit(t *testing.T) {
	long := "+" + strings.Repeat("a", 100) + "\r\n"
	assert.ErrorIs(t, readErr(long, Limits{MaxLineLen: 100}), ErrLineTooLong)
	assert.NoError(t, readErr(long, Limits{MaxLineLen: 101}))
	// A line longer than the bufio buffer is bounded too, and so is one that never ends.
	small := func(s string) io.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }
	_, err := NewReader(small(long), Limits{MaxLineLen: 50}).Read()
	assert.ErrorIs(t, err, ErrLineTooLong)
	_, err = NewReader(small("+"+strings.Repeat("a", 1<<20)), Limits{MaxLineLen: 1000}).Read()
	assert.ErrorIs(t, err, ErrLineTooLong)
}

// TestHugeHeadersDoNotAllocate shows that memory follows the bytes that arrive, not the lengths
// that are announced: a 500 MB bulk and a 16M-element array announced but cut short.
func TestHugeHeadersDoNotAllocate(t *testing.T) {
	for _, wire := range []string{
		"$500000000\r\n" + strings.Repeat("x", 1000),
		"*16000000\r\n" + strings.Repeat(":1\r\n", 1000),
		"%8000000\r\n" + strings.Repeat(":1\r\n", 1000),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := NewReader(strings.NewReader(wire), Limits{}).Read()
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		allocated := after.TotalAlloc - before.TotalAlloc
		assert.Less(t, allocated, uint64(1<<20), "%d bytes allocated for a %d-byte input", allocated, len(wire))
	}
}

func TestArenaIsReleasedAfterAHugeReply(t *testing.T) {
	big := "$" + "2000000" + "\r\n" + strings.Repeat("z", 2_000_000) + "\r\n"
	r := NewReader(strings.NewReader(big+"+small\r\n"), Limits{})
	_, err := r.Read()
	require.NoError(t, err)
	require.Greater(t, cap(r.buf), keepBytes)
	v, err := r.Read()
	require.NoError(t, err)
	assert.Equal(t, "small", v.String())
	assert.LessOrEqual(t, cap(r.buf), keepBytes)
}
