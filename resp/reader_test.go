package resp

import (
	"bufio"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll decodes every reply in wire, through a reader that hands out one byte at a time when
// slow is set (so every slow path runs), and returns owned copies.
func readAll(t *testing.T, wire string, slow bool) []Value {
	t.Helper()
	var src io.Reader = strings.NewReader(wire)
	if slow {
		src = bufio.NewReaderSize(iotest.OneByteReader(src), 16)
	}
	r := NewReader(src, Limits{})
	var out []Value
	for {
		v, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, v.Clone())
	}
}

// everyType is one reply of each kind, as it comes on the wire and as it reads.
var everyType = []struct {
	name string
	wire string
	want Value
}{
	{"simple string", "+OK\r\n", SimpleString("OK")},
	{"empty simple string", "+\r\n", SimpleString("")},
	{"simple error", "-ERR unknown command 'x'\r\n", ErrorValue("ERR", "unknown command 'x'")},
	{"integer", ":1000\r\n", Integer(1000)},
	{"negative integer", ":-42\r\n", Integer(-42)},
	{"max integer", ":9223372036854775807\r\n", Integer(math.MaxInt64)},
	{"min integer", ":-9223372036854775808\r\n", Integer(math.MinInt64)},
	{"bulk string", "$5\r\nhello\r\n", BulkString("hello")},
	{"empty bulk string", "$0\r\n\r\n", BulkString("")},
	{"binary bulk string", "$4\r\na\r\nb\r\n", BulkString("a\r\nb")},
	{"RESP2 null bulk", "$-1\r\n", Null()},
	{"RESP2 null array", "*-1\r\n", Null()},
	{"null", "_\r\n", Null()},
	{"array", "*2\r\n$3\r\nfoo\r\n:7\r\n", Array(BulkString("foo"), Integer(7))},
	{"empty array", "*0\r\n", Array()},
	{"nested array", "*2\r\n*1\r\n+a\r\n*0\r\n", Array(Array(SimpleString("a")), Array())},
	{"true", "#t\r\n", Boolean(true)},
	{"false", "#f\r\n", Boolean(false)},
	{"double", ",3.14\r\n", Double(3.14)},
	{"double exponent", ",1.5e10\r\n", Double(1.5e10)},
	{"inf", ",inf\r\n", Double(math.Inf(1))},
	{"-inf", ",-inf\r\n", Double(math.Inf(-1))},
	{"nan", ",nan\r\n", Double(math.NaN())},
	{"big number", "(3492890328409238509324850943850943825024385\r\n", BigNumber("3492890328409238509324850943850943825024385")},
	{"negative big number", "(-1\r\n", BigNumber("-1")},
	{"bulk error", "!21\r\nSYNTAX invalid syntax\r\n", BulkErrorValue("SYNTAX", "invalid syntax")},
	{"verbatim", "=15\r\ntxt:Some string\r\n", Verbatim("txt", "Some string")},
	{"map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
		Map(SimpleString("first"), Integer(1), SimpleString("second"), Integer(2))},
	{"set", "~3\r\n+a\r\n+b\r\n+c\r\n", Set(SimpleString("a"), SimpleString("b"), SimpleString("c"))},
	{"push", ">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n", Push(SimpleString("message"), SimpleString("ch"), BulkString("hi"))},
	{"attribute", "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n:2039123\r\n",
		Array(Integer(2039123)).WithAttributes(Map(SimpleString("key-popularity"), Map(BulkString("a"), Double(0.1923))))},
	{"attribute inside array", "*2\r\n|1\r\n+ttl\r\n:3600\r\n+a\r\n+b\r\n",
		Array(SimpleString("a").WithAttributes(Map(SimpleString("ttl"), Integer(3600))), SimpleString("b"))},
}

func TestReadEveryType(t *testing.T) {
	for _, tc := range everyType {
		for _, slow := range []bool{false, true} {
			name := tc.name
			if slow {
				name += "/one byte at a time"
			}
			t.Run(name, func(t *testing.T) {
				got := readAll(t, tc.wire, slow)
				require.Len(t, got, 1)
				assert.True(t, Equal(tc.want, got[0]), "want %s got %s", tc.want, got[0])
				// And back: what is read and written again reads the same.
				again := readAll(t, string(AppendValue(nil, got[0])), false)
				require.Len(t, again, 1)
				assert.True(t, Equal(got[0], again[0]))
			})
		}
	}
}

func TestReadSequenceOfReplies(t *testing.T) {
	wire := "+OK\r\n$3\r\nbar\r\n:1\r\n*1\r\n$1\r\nx\r\n_\r\n"
	got := readAll(t, wire, false)
	require.Len(t, got, 5)
	assert.Equal(t, "OK", got[0].String())
	assert.Equal(t, "bar", got[1].String())
	assert.Equal(t, int64(1), got[2].num)
	assert.Equal(t, "x", got[3].Index(0).String())
	assert.True(t, got[4].IsNull())
}

func TestReadBorrowsUntilNextRead(t *testing.T) {
	r := NewReader(strings.NewReader("$5\r\nfirst\r\n$5\r\nlater\r\n"), Limits{})
	v, err := r.Read()
	require.NoError(t, err)
	kept := v.Clone()
	_, err = r.Read()
	require.NoError(t, err)
	// The borrowed value now shows the second reply's bytes; the clone still holds the first.
	assert.Equal(t, "later", v.String())
	assert.Equal(t, "first", kept.String())
}

func TestReadLongSimpleLine(t *testing.T) {
	long := strings.Repeat("x", 50_000) // longer than the bufio buffer, shorter than MaxLineLen
	r := NewReader(bufio.NewReaderSize(strings.NewReader("+"+long+"\r\n:5\r\n"), 16), Limits{})
	v, err := r.Read()
	require.NoError(t, err)
	assert.Equal(t, long, v.String())
	v, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, int64(5), v.num)
}

func TestReadLargeBulkInChunks(t *testing.T) {
	payload := strings.Repeat("0123456789", 100_000)
	wire := "$1000000\r\n" + payload + "\r\n"
	got := readAll(t, wire, false)
	require.Len(t, got, 1)
	assert.Equal(t, payload, got[0].String())
}

func TestReadEOF(t *testing.T) {
	cases := map[string]error{
		"":                   io.EOF,
		"+OK":                io.ErrUnexpectedEOF,
		"$5\r\nhel":          io.ErrUnexpectedEOF,
		"$5\r\nhello":        io.ErrUnexpectedEOF,
		"$5\r\nhello\r":      io.ErrUnexpectedEOF,
		"*2\r\n+a\r\n":       io.ErrUnexpectedEOF,
		"|1\r\n+a\r\n+b\r\n": io.ErrUnexpectedEOF,
	}
	for wire, want := range cases {
		r := NewReader(strings.NewReader(wire), Limits{})
		_, err := r.Read()
		assert.ErrorIs(t, err, want, "wire %q", wire)
	}
}

func TestReadMalformed(t *testing.T) {
	for _, wire := range []string{
		"\r\n",                      // no type byte
		"+OK\n",                     // LF without CR
		"?what\r\n",                 // unknown type
		":12a\r\n",                  // bad integer
		":\r\n",                     // empty integer
		":99999999999999999999\r\n", // overflows int64
		"$-2\r\n",                   // negative length
		"$abc\r\n",                  // bad length
		"$3\r\nabcd\r\n",            // payload longer than announced
		"$3\r\nab\r\n\r\n",          // CRLF in the wrong place
		"!-1\r\n",                   // null is not a bulk error
		"#x\r\n",                    // bad boolean
		"#\r\n",                     // empty boolean
		",abc\r\n",                  // bad double
		"(12x\r\n",                  // bad big number
		"(\r\n",                     // empty big number
		"_x\r\n",                    // null with payload
		"=3\r\ntxt\r\n",             // verbatim shorter than its format prefix
		"=5\r\ntxt-a\r\n",           // verbatim without the colon
		"%-1\r\n",                   // negative map
		"~-1\r\n",                   // null is not a set
		"*1\r\n$1\r\nab\r\n",        // nested payload too long
	} {
		r := NewReader(strings.NewReader(wire), Limits{})
		_, err := r.Read()
		var pe *ProtocolError
		require.ErrorAs(t, err, &pe, "wire %q", wire)
		assert.ErrorIs(t, err, ErrProtocol, "wire %q", wire)
	}
}

// A server that sends attribute after attribute before a value cannot grow the reader's memory:
// only the last attribute is kept.
func TestAttributeStreamIsBounded(t *testing.T) {
	wire := strings.Repeat("|1\r\n+k\r\n$5\r\nvalue\r\n", 100_000) + "|1\r\n+last\r\n:1\r\n*2\r\n|1\r\n+inner\r\n:2\r\n+a\r\n+b\r\n"
	r := NewReader(strings.NewReader(wire), Limits{})
	v, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, KindArray, v.Kind())
	assert.Equal(t, "a", v.Index(0).String())
	attrs, ok := v.Attributes()
	require.True(t, ok)
	assert.Equal(t, "last", attrs.Index(0).String(), "the last attribute is the one kept")
	inner, ok := v.Index(0).Attributes()
	require.True(t, ok)
	assert.Equal(t, "inner", inner.Index(0).String())
	assert.Less(t, cap(r.vals), 64, "the discarded attributes were dropped from the arena")
	assert.Less(t, cap(r.buf), 1024)
}
