package resp

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccessors(t *testing.T) {
	n, err := Integer(42).Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(42), n)
	n, err = BulkString("-17").Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(-17), n)
	_, err = BulkString("x").Int64()
	assert.ErrorIs(t, err, ErrUnexpectedType)
	_, err = Array().Int64()
	assert.ErrorIs(t, err, ErrUnexpectedType)

	f, err := BulkString("2.5").Float64()
	require.NoError(t, err)
	assert.Equal(t, 2.5, f)
	f, err = Double(math.Inf(-1)).Float64()
	require.NoError(t, err)
	assert.True(t, math.IsInf(f, -1))
	f, err = Integer(3).Float64()
	require.NoError(t, err)
	assert.Equal(t, 3.0, f)
	_, err = Null().Float64()
	assert.ErrorIs(t, err, ErrUnexpectedType)

	b, err := Boolean(true).Bool()
	require.NoError(t, err)
	assert.True(t, b)
	b, err = Integer(0).Bool()
	require.NoError(t, err)
	assert.False(t, b)
	_, err = Integer(2).Bool()
	assert.ErrorIs(t, err, ErrUnexpectedType)

	assert.Equal(t, "hello", string(Verbatim("txt", "hello").Bytes()))
	assert.Equal(t, "txt", Verbatim("txt", "hello").VerbatimFormat())
	assert.Equal(t, "", BulkString("x").VerbatimFormat())
	assert.Nil(t, Integer(1).Bytes())
	assert.True(t, Null().IsNull())
	assert.False(t, BulkString("").IsNull())
}

func TestStringForms(t *testing.T) {
	assert.Equal(t, "12", Integer(12).String())
	assert.Equal(t, "0.5", Double(0.5).String())
	assert.Equal(t, "inf", Double(math.Inf(1)).String())
	// The decimal form, as RESP2 brings the same score as text (it read "1.2345675e+06").
	assert.Equal(t, "1234567.5", Double(1234567.5).String())
	assert.Equal(t, BulkString("1234567.5").String(), Double(1234567.5).String())
	// With an exponent beyond those, as RESP2 brings them too, not in hundreds of digits.
	assert.Equal(t, "1e+21", Double(1e21).String())
	assert.Equal(t, "1e+300", Double(1e300).String())
	assert.Equal(t, "1e-07", Double(1e-7).String())
	assert.Equal(t, "5e-324", Double(math.SmallestNonzeroFloat64).String())
	assert.Equal(t, "0", Double(math.Copysign(0, -1)).String())
	assert.Equal(t, "true", Boolean(true).String())
	assert.Equal(t, "", Null().String())
	assert.Equal(t, "ERR no", ErrorValue("ERR", "no").String())
	assert.Equal(t, "[a 1 <nil> [b]]", Array(BulkString("a"), Integer(1), Null(), Array(SimpleString("b"))).String())
	assert.Equal(t, "{k: v}", Map(BulkString("k"), BulkString("v")).String())
	assert.Equal(t, "(x)", Set(BulkString("x")).String())
	assert.Equal(t, ">[message]", Push(BulkString("message")).String())
	assert.Equal(t, "[(error) ERR x]", Array(ErrorValue("ERR", "x")).String())
}

func TestPairsAndMap(t *testing.T) {
	// RESP2 sends HGETALL as a flat array; RESP3 as a map. Both read the same.
	for _, v := range []Value{
		Array(BulkString("a"), BulkString("1"), BulkString("b"), BulkString("2")),
		Map(BulkString("a"), BulkString("1"), BulkString("b"), BulkString("2")),
	} {
		m, err := v.Map()
		require.NoError(t, err)
		assert.Equal(t, "1", m["a"].String())
		assert.Equal(t, "2", m["b"].String())
	}
	_, err := Array(BulkString("odd")).Pairs()
	assert.ErrorIs(t, err, ErrUnexpectedType)

	// ZRANGE z 0 -1 WITHSCORES: RESP2 sends member, score, member, score...; RESP3 an array of
	// [member, score] pairs. Both read the same, with an odd number of members too.
	for _, v := range []Value{
		Array(BulkString("a"), BulkString("1"), BulkString("b"), BulkString("2"), BulkString("c"), BulkString("3")),
		Array(Array(BulkString("a"), Double(1)), Array(BulkString("b"), Double(2)), Array(BulkString("c"), Double(3))),
	} {
		m, err := v.Map()
		require.NoError(t, err, "%s", v)
		require.Len(t, m, 3, "%s", v)
		for k, want := range map[string]float64{"a": 1, "b": 2, "c": 3} {
			got, err := m[k].Float64()
			require.NoError(t, err)
			assert.Equal(t, want, got, "%s of %s", k, v)
		}
	}
	// Keys that are aggregates, and pairs that are not pairs, are no map: an error, not keys made of
	// their text.
	_, err = Array(Array(BulkString("a")), BulkString("1")).Pairs()
	assert.ErrorIs(t, err, ErrUnexpectedType)
	_, err = Array(Array(BulkString("a"), BulkString("1")), Array(BulkString("b"))).Pairs()
	assert.ErrorIs(t, err, ErrUnexpectedType)
	assert.Equal(t, 4, Map(Integer(1), Integer(2), Integer(3), Integer(4)).Len())
	assert.Nil(t, Integer(1).Array())
}

func TestErrValue(t *testing.T) {
	assert.NoError(t, BulkString("x").Err())
	err := ErrorValue("WRONGTYPE", "Operation against a key holding the wrong kind of value").Err()
	assert.ErrorIs(t, err, ErrWrongType)
	err = BulkErrorValue("SYNTAX", "invalid").Err()
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "SYNTAX", e.Prefix)
}

func TestCloneIsDeepAndIndependent(t *testing.T) {
	wire := "|1\r\n+meta\r\n:1\r\n*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n*1\r\n$1\r\nv\r\n,2.5\r\n$4\r\nnext\r\n"
	r := NewReader(strings.NewReader(wire), Limits{})
	v, err := r.Read()
	require.NoError(t, err)
	c := v.Clone()
	require.True(t, Equal(v, c))
	_, err = r.Read() // overwrites the arena v borrows
	require.NoError(t, err)
	assert.Equal(t, "abc", c.Index(0).String())
	assert.Equal(t, "v", c.Index(1).Index(1).Index(0).String())
	attrs, ok := c.Attributes()
	require.True(t, ok)
	assert.Equal(t, "meta", attrs.Index(0).String())
	// Appending to a cloned string cannot clobber its neighbour.
	_ = append(c.Index(0).Bytes(), "zzz"...)
	assert.Equal(t, "v", c.Index(1).Index(1).Index(0).String())
}

// An empty string or aggregate reads as empty, not as nil, and so does its clone: callers that
// test Bytes() or Elems() against nil must not mistake "" for a missing value.
func TestCloneKeepsEmptyPayloads(t *testing.T) {
	r := NewReader(strings.NewReader("$0\r\n\r\n*0\r\n"), Limits{})
	for _, want := range []Kind{KindBulkString, KindArray} {
		v, err := r.Read()
		require.NoError(t, err)
		require.Equal(t, want, v.Kind())
		for _, x := range []Value{v, v.Clone()} {
			if want == KindBulkString {
				assert.NotNil(t, x.Bytes())
				assert.Empty(t, x.Bytes())
			} else {
				assert.NotNil(t, x.Array())
				assert.Zero(t, x.Len())
			}
		}
	}
}

func TestCloneAllocations(t *testing.T) {
	bulk := BulkString("hello world")
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _ = bulk.Clone() }))
	arr := Array(BulkString("a"), Array(BulkString("b"), Integer(1)))
	assert.Equal(t, 2.0, testing.AllocsPerRun(100, func() { _ = arr.Clone() }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Integer(5).Clone() }))
}

func TestEqual(t *testing.T) {
	assert.True(t, Equal(Double(math.NaN()), Double(math.NaN())))
	assert.False(t, Equal(BulkString("a"), SimpleString("a")))
	assert.False(t, Equal(Array(Integer(1)), Array(Integer(2))))
	assert.False(t, Equal(Array(Integer(1)), Array(Integer(1), Integer(1))))
	assert.False(t, Equal(Integer(1).WithAttributes(Map()), Integer(1)))
	assert.True(t, Equal(Array(), Array()))
}

func TestKindNames(t *testing.T) {
	assert.Equal(t, "bulk string", KindBulkString.String())
	assert.Equal(t, "push", KindPush.String())
	assert.Equal(t, "unknown kind", Kind(200).String())
	assert.True(t, KindMap.IsAggregate())
	assert.False(t, KindBulkString.IsAggregate())
}

func TestConstructorsPanicOnMisuse(t *testing.T) {
	assert.Panics(t, func() { Map(Integer(1)) })
	assert.Panics(t, func() { Verbatim("text", "x") })
}

func TestCloneInto(t *testing.T) {
	var scratch [16]byte
	r := NewReader(strings.NewReader("$5\r\nhello\r\n$5\r\nworld\r\n"), Limits{})
	v, err := r.Read()
	require.NoError(t, err)
	var c Value
	allocs := testing.AllocsPerRun(10, func() { c = v.CloneInto(scratch[:]) })
	assert.Zero(t, allocs)
	_, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, "hello", c.String())
	assert.Equal(t, "hello", string(scratch[:5]), "the copy lives in scratch")
	// Too long for scratch, or an aggregate: an ordinary clone.
	long := BulkString(strings.Repeat("x", 17)).CloneInto(scratch[:])
	assert.Equal(t, strings.Repeat("x", 17), long.String())
	arr := Array(BulkString("a")).CloneInto(scratch[:])
	assert.True(t, Equal(Array(BulkString("a")), arr))
	assert.Equal(t, int64(7), Integer(7).CloneInto(scratch[:]).num)
}
