package resp

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendCommand(t *testing.T) {
	got, err := AppendCommand(nil, "SET", []byte("k"), 42, int64(-7), 1.5, true, uint64(math.MaxUint64), int32(3))
	require.NoError(t, err)
	want := "*8\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$2\r\n-7\r\n$3\r\n1.5\r\n$1\r\n1\r\n" +
		"$20\r\n18446744073709551615\r\n$1\r\n3\r\n"
	assert.Equal(t, want, string(got))
}

func TestAppendCommandRejectsUnknownTypes(t *testing.T) {
	dst := []byte("kept")
	out, err := AppendCommand(dst, "SET", struct{}{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "argument 1")
	assert.Equal(t, "kept", string(out), "a failed command leaves the buffer as it was")

	// No arguments at all: the server would answer nothing.
	out, err = AppendCommand(dst)
	require.ErrorIs(t, err, ErrEmptyCommand)
	assert.Equal(t, "kept", string(out))

	// A nil pointer is an error too, not a panic.
	for _, nilArg := range []any{(*string)(nil), (*[]byte)(nil), (*int64)(nil)} {
		out, err = AppendCommand(dst, "SET", "k", nilArg)
		require.Error(t, err, "%T", nilArg)
		assert.Contains(t, err.Error(), "argument 2")
		assert.Equal(t, "kept", string(out))
	}
	_, ok := ArgString((*string)(nil))
	assert.False(t, ok)
}

func TestAppendFloatForms(t *testing.T) {
	for f, want := range map[float64]string{
		math.Inf(1):          "inf",
		math.Inf(-1):         "-inf",
		0.1:                  "0.1",
		1e300:                "1" + strings.Repeat("0", 300),
		-2:                   "-2",
		1e6:                  "1000000", // not 1e+06: EXPIRE k 1e+06 is refused
		math.Copysign(0, -1): "0",       // not -0
		-1e18:                "-1000000000000000000",
		1234567.5:            "1234567.5", // as other clients write it: a value's text is read back
		0.00001:              "0.00001",
		-1e-7:                "-0.0000001",
	} {
		assert.Equal(t, "$"+strconv.Itoa(len(want))+"\r\n"+want+"\r\n", string(AppendBulkFloat(nil, f)))
	}
}

func itoa(n int) string {
	return string(AppendBulkInt(nil, int64(n))[4:][:len(AppendBulkInt(nil, int64(n)))-6])
}

func TestAppendStringsMatchesAppendCommand(t *testing.T) {
	a := AppendStrings(nil, "GET", "key")
	b, err := AppendCommand(nil, "GET", "key")
	require.NoError(t, err)
	assert.Equal(t, string(b), string(a))
}

func TestWritersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 1024)
	key, val := "user:1000", []byte("some value")
	var n int64 = 123456789
	f := 3.25
	typed := testing.AllocsPerRun(1000, func() {
		buf = AppendArrayHeader(buf[:0], 5)
		buf = AppendBulkString(buf, "SET")
		buf = AppendBulkString(buf, key)
		buf = AppendBulk(buf, val)
		buf = AppendBulkInt(buf, n)
		buf = AppendBulkFloat(buf, f)
	})
	assert.Zero(t, typed, "typed appenders")
	strs := testing.AllocsPerRun(1000, func() { buf = AppendStrings(buf[:0], "SET", key, "v") })
	assert.Zero(t, strs, "AppendStrings")
	args := []any{"SET", key, val, n, f}
	generic := testing.AllocsPerRun(1000, func() {
		var err error
		if buf, err = AppendCommand(buf[:0], args...); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, generic, "AppendCommand with pre-boxed arguments")
}

// ArgInt reads every form AppendArg writes as an integer, as the server will read it.
func TestArgInt(t *testing.T) {
	n := int64(7)
	b := []byte("12")
	for arg, want := range map[any]int64{7: 7, int64(-3): -3, int32(5): 5, uint64(9): 9, &n: 7, "42": 42, &b: 12,
		true: 1, false: 0, 5000.0: 5000} {
		got, ok := ArgInt(arg)
		assert.True(t, ok, "%T %v", arg, arg)
		assert.Equal(t, want, got, "%T %v", arg, arg)
	}
	for _, arg := range []any{"soon", 1.5, (*int64)(nil), uint64(math.MaxUint64), struct{}{}} {
		_, ok := ArgInt(arg)
		assert.False(t, ok, "%T %v", arg, arg)
	}
}
