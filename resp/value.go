package resp

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Value is one decoded RESP value. It is small and meant to be passed by value.
//
// Ownership: a Value returned by Reader.Read borrows the Reader's buffers; its bytes and elements
// are valid until the next Read on that Reader. Clone returns a Value that owns its memory. Values
// built with the constructors in this package (Str, Int, Arr...) own their memory.
//
// A Value is immutable once made and safe to read from several goroutines; a borrowed one only
// until its Reader reads again.
type Value struct {
	kind  Kind
	num   int64   // integer value, boolean (0/1), or a double's bits
	str   []byte  // text of string-like kinds and errors; verbatim keeps its "fmt:" prefix
	elems []Value // aggregates; a map holds key, value, key, value...
	attrs *Value  // a RESP3 attribute map that preceded this value, if any
}

// Kind returns the value's RESP type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is a null (RESP3 _, or RESP2's $-1 or *-1).
func (v Value) IsNull() bool { return v.kind == KindNull }

// IsError reports whether v is a simple or bulk error.
func (v Value) IsError() bool { return v.kind == KindError || v.kind == KindBulkError }

// Err returns the server error that v carries as an *Error, or nil when v is not an error.
func (v Value) Err() error {
	if !v.IsError() {
		return nil
	}
	return ParseError(string(v.str))
}

// Bytes returns the payload of a string-like value (simple, bulk, verbatim without its format
// prefix, big number, error text). It is nil for other kinds. For a Value from Reader.Read the
// slice is valid until the next Read; do not modify it.
func (v Value) Bytes() []byte {
	if v.kind == KindVerbatim {
		return v.str[4:]
	}
	if v.kind.hasText() {
		return v.str
	}
	return nil
}

// VerbatimFormat returns the three-letter format of a verbatim string ("txt", "mkd"), or "".
func (v Value) VerbatimFormat() string {
	if v.kind != KindVerbatim {
		return ""
	}
	return string(v.str[:3])
}

// String returns v as text: the payload of string-like kinds and errors, the decimal form of
// integers and doubles, "true"/"false" for booleans, "" for null, and a readable rendering of
// aggregates (for logs and tests, not for parsing).
func (v Value) String() string {
	switch v.kind {
	case KindInteger:
		return strconv.FormatInt(v.num, 10)
	case KindDouble:
		// As a float argument is written, and as RESP2 brings the same score: "1234567.5", not
		// "1.2345675e+06" (a review found the two protocols' texts differing); but with an
		// exponent below 1e-4 and from 1e21, as RESP2 has those too ("1e+21", not 22 digits).
		if f := math.Abs(v.Float()); f != 0 && (f < 1e-4 || f >= 1e21) {
			return string(appendDouble(nil, v.Float()))
		}
		return string(AppendFloatText(nil, v.Float()))
	case KindBoolean:
		return strconv.FormatBool(v.num != 0)
	case KindNull, KindInvalid:
		return ""
	}
	if v.kind.IsAggregate() {
		var b strings.Builder
		v.render(&b)
		return b.String()
	}
	return string(v.Bytes())
}

func (v Value) render(b *strings.Builder) {
	switch v.kind {
	case KindMap:
		b.WriteByte('{')
		for i := 0; i+1 < len(v.elems); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			v.elems[i].render(b)
			b.WriteString(": ")
			v.elems[i+1].render(b)
		}
		b.WriteByte('}')
	case KindArray, KindSet, KindPush:
		open, end := byte('['), byte(']')
		if v.kind == KindSet {
			open, end = '(', ')'
		}
		if v.kind == KindPush {
			b.WriteString(">")
		}
		b.WriteByte(open)
		for i, e := range v.elems {
			if i > 0 {
				b.WriteByte(' ')
			}
			e.render(b)
		}
		b.WriteByte(end)
	case KindNull:
		b.WriteString("<nil>")
	case KindError, KindBulkError:
		b.WriteString("(error) ")
		b.Write(v.str)
	default:
		b.WriteString(v.String())
	}
}

// Int64 returns v as an integer: an integer value, or a string-like value holding a base-10
// integer (what GET returns for a counter). Other kinds, and text that is not an integer, fail
// with an error matching ErrUnexpectedType.
func (v Value) Int64() (int64, error) {
	switch v.kind {
	case KindInteger:
		return v.num, nil
	case KindSimpleString, KindBulkString, KindVerbatim, KindBigNumber:
		n, err := strconv.ParseInt(string(v.Bytes()), 10, 64)
		if err != nil {
			return 0, typeError(v, "an integer")
		}
		return n, nil
	}
	return 0, typeError(v, "an integer")
}

// Float64 returns v as a float: a double, an integer, or string-like text holding a number (what
// ZSCORE returns in RESP2). Other kinds fail with an error matching ErrUnexpectedType.
func (v Value) Float64() (float64, error) {
	switch v.kind {
	case KindDouble:
		return v.Float(), nil
	case KindInteger:
		return float64(v.num), nil
	case KindSimpleString, KindBulkString, KindVerbatim, KindBigNumber:
		f, err := parseDouble(v.Bytes())
		if err != nil {
			return 0, typeError(v, "a number")
		}
		return f, nil
	}
	return 0, typeError(v, "a number")
}

// Float returns the number of a KindDouble value without checking the kind.
func (v Value) Float() float64 { return math.Float64frombits(uint64(v.num)) }

// Bool returns v as a boolean: a RESP3 boolean, or an integer 0 or 1 (RESP2's answer to EXISTS-like
// commands). Other values fail with an error matching ErrUnexpectedType.
func (v Value) Bool() (bool, error) {
	switch {
	case v.kind == KindBoolean:
		return v.num != 0, nil
	case v.kind == KindInteger && (v.num == 0 || v.num == 1):
		return v.num == 1, nil
	}
	return false, typeError(v, "a boolean")
}

// Len returns the number of elements of an aggregate (pairs count twice in a map), or 0.
func (v Value) Len() int { return len(v.elems) }

// Index returns element i of an aggregate. It panics when i is out of range, like a slice.
func (v Value) Index(i int) Value { return v.elems[i] }

// Array returns the elements of an array, set or push (nil for other kinds). A map's elements are
// returned too, as key, value, key, value... For a Value from Reader.Read the slice is valid until
// the next Read; do not modify it.
func (v Value) Array() []Value {
	if v.kind.IsAggregate() {
		return v.elems
	}
	return nil
}

// Pairs returns the key, value, key, value... elements of a map; of an array of even length whose
// keys are not aggregates (how RESP2 sends maps, e.g. HGETALL, or ZRANGE WITHSCORES); or of an
// array of 2-element arrays (how RESP3 sends ZRANGE WITHSCORES, ZPOPMIN with a count, HRANDFIELD
// WITHVALUES), which it flattens into a new slice. Other values fail with an error matching
// ErrUnexpectedType.
func (v Value) Pairs() ([]Value, error) {
	switch {
	case v.kind == KindMap:
		return v.elems, nil
	case v.kind != KindArray:
	case pairArrays(v.elems):
		flat := make([]Value, 0, 2*len(v.elems))
		for _, p := range v.elems {
			flat = append(flat, p.elems...)
		}
		return flat, nil
	case len(v.elems)%2 == 0 && flatKeys(v.elems):
		return v.elems, nil
	}
	return nil, typeError(v, "a map")
}

// pairArrays reports whether elems, not empty, are all arrays of two elements.
func pairArrays(elems []Value) bool {
	for _, e := range elems {
		if e.kind != KindArray || len(e.elems) != 2 {
			return false
		}
	}
	return len(elems) > 0
}

// flatKeys reports whether the keys of a flat key, value... array are no aggregates.
func flatKeys(elems []Value) bool {
	for i := 0; i < len(elems); i += 2 {
		if elems[i].kind.IsAggregate() {
			return false
		}
	}
	return true
}

// Map returns what Pairs does as a Go map keyed by the keys' text. It allocates; the values in it
// follow v's ownership.
func (v Value) Map() (map[string]Value, error) {
	pairs, err := v.Pairs()
	if err != nil {
		return nil, err
	}
	m := make(map[string]Value, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i].String()] = pairs[i+1]
	}
	return m, nil
}

// Attributes returns the RESP3 attribute map that preceded v on the wire, if there was one.
func (v Value) Attributes() (Value, bool) {
	if v.attrs == nil {
		return Value{}, false
	}
	return *v.attrs, true
}

func typeError(v Value, want string) error {
	return fmt.Errorf("%w: %s is not %s", ErrUnexpectedType, v.kind, want)
}
