package resp

import (
	"bytes"
	"math"
)

// Constructors of owned Values, for tests, fake servers and callers that build replies.

// SimpleString returns a simple string value (+s).
func SimpleString(s string) Value { return Value{kind: KindSimpleString, str: []byte(s)} }

// BulkString returns a bulk string value ($len s).
func BulkString(s string) Value { return Value{kind: KindBulkString, str: []byte(s)} }

// BulkBytes returns a bulk string value holding a copy of b.
func BulkBytes(b []byte) Value {
	return Value{kind: KindBulkString, str: append(make([]byte, 0, len(b)), b...)}
}

// Integer returns an integer value (:n).
func Integer(n int64) Value { return Value{kind: KindInteger, num: n} }

// Double returns a RESP3 double value (,f).
func Double(f float64) Value { return Value{kind: KindDouble, num: int64(math.Float64bits(f))} }

// Boolean returns a RESP3 boolean value (#t or #f).
func Boolean(b bool) Value {
	v := Value{kind: KindBoolean}
	if b {
		v.num = 1
	}
	return v
}

// Null returns the null value.
func Null() Value { return Value{kind: KindNull} }

// BigNumber returns a RESP3 big number holding the decimal text digits ("-123..."); the text is
// not checked here, AppendValue writes it as it is.
func BigNumber(digits string) Value { return Value{kind: KindBigNumber, str: []byte(digits)} }

// ErrorValue returns a simple error value whose text is "prefix msg" (or just prefix).
func ErrorValue(prefix, msg string) Value {
	return Value{kind: KindError, str: []byte(joinError(prefix, msg))}
}

// BulkErrorValue returns a RESP3 bulk error value whose text is "prefix msg".
func BulkErrorValue(prefix, msg string) Value {
	return Value{kind: KindBulkError, str: []byte(joinError(prefix, msg))}
}

// Verbatim returns a RESP3 verbatim string; format must be three bytes ("txt", "mkd").
func Verbatim(format, text string) Value {
	if len(format) != 3 {
		panic("resp: verbatim format must be three bytes, got " + format)
	}
	return Value{kind: KindVerbatim, str: []byte(format + ":" + text)}
}

// Array returns an array of the given elements (the slice is kept, not copied).
func Array(elems ...Value) Value { return Value{kind: KindArray, elems: elems} }

// Set returns a RESP3 set of the given elements.
func Set(elems ...Value) Value { return Value{kind: KindSet, elems: elems} }

// Push returns a RESP3 push frame of the given elements.
func Push(elems ...Value) Value { return Value{kind: KindPush, elems: elems} }

// Map returns a RESP3 map from key, value, key, value... It panics on an odd count.
func Map(pairs ...Value) Value {
	if len(pairs)%2 != 0 {
		panic("resp: Map needs key, value pairs")
	}
	return Value{kind: KindMap, elems: pairs}
}

// WithAttributes returns v preceded on the wire by the attribute map attrs (a KindMap value).
func (v Value) WithAttributes(attrs Value) Value {
	v.attrs = &attrs
	return v
}

// Clone returns a deep copy of v that owns its memory, safe to keep after the Reader that produced
// v reads again and to hand to another goroutine. A string-like value costs one allocation; an
// aggregate two (one for all its bytes, one for all its elements) plus one per attribute map.
func (v Value) Clone() Value {
	nbytes, nelems := v.footprint()
	var c cloner
	if nbytes > 0 {
		c.bytes = make([]byte, 0, nbytes)
	}
	if nelems > 0 {
		c.elems = make([]Value, 0, nelems)
	}
	return c.clone(v)
}

// footprint counts the bytes and elements held by v and its descendants.
func (v Value) footprint() (nbytes, nelems int) {
	nbytes, nelems = len(v.str), len(v.elems)
	for _, e := range v.elems {
		b, n := e.footprint()
		nbytes += b
		nelems += n
	}
	return nbytes, nelems
}

// noBytes and noElems are the shared payloads of empty strings and aggregates, read or cloned, so
// that an empty value never looks like a missing (nil) one. Their capacity is zero: nobody can
// write through them.
var (
	noBytes = []byte{}
	noElems = []Value{}
)

// tailBytes returns buf[start:] with its capacity capped, or noBytes when that is empty.
func tailBytes(buf []byte, start int) []byte {
	if start == len(buf) {
		return noBytes
	}
	return buf[start:len(buf):len(buf)]
}

// tailElems is tailBytes for an arena of values.
func tailElems(vals []Value, start int) []Value {
	if start == len(vals) {
		return noElems
	}
	return vals[start:len(vals):len(vals)]
}

type cloner struct {
	bytes []byte
	elems []Value
}

func (c *cloner) clone(v Value) Value {
	out := Value{kind: v.kind, num: v.num}
	if v.str != nil {
		start := len(c.bytes)
		c.bytes = append(c.bytes, v.str...)
		out.str = tailBytes(c.bytes, start)
	}
	if v.elems != nil {
		start := len(c.elems)
		c.elems = c.elems[:start+len(v.elems)]
		out.elems = tailElems(c.elems, start)
		for i, e := range v.elems {
			out.elems[i] = c.clone(e)
		}
	}
	if v.attrs != nil {
		a := v.attrs.Clone()
		out.attrs = &a
	}
	return out
}

// Equal reports whether a and b are the same value: same kind, same payload, same elements and
// attributes. Doubles compare by their bits, so NaN equals NaN.
func Equal(a, b Value) bool {
	if a.kind != b.kind || a.num != b.num || !bytes.Equal(a.str, b.str) || len(a.elems) != len(b.elems) {
		return false
	}
	for i := range a.elems {
		if !Equal(a.elems[i], b.elems[i]) {
			return false
		}
	}
	if (a.attrs == nil) != (b.attrs == nil) {
		return false
	}
	return a.attrs == nil || Equal(*a.attrs, *b.attrs)
}

// CloneInto is Clone, but a string-like value without attributes whose bytes fit in scratch is
// copied into scratch instead of a new allocation. The result then aliases scratch: the caller
// must keep scratch unchanged for as long as the value is used (actoredis's futures hold a small
// buffer for exactly this, so a short GET reply costs no allocation of its own).
func (v Value) CloneInto(scratch []byte) Value {
	if v.attrs != nil || v.elems != nil || len(v.str) > cap(scratch) {
		return v.Clone()
	}
	out := v
	if v.str != nil {
		n := copy(scratch[:len(v.str)], v.str)
		out.str = scratch[:n:n]
	}
	return out
}
