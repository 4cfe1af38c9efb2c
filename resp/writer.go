package resp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Commands go to the server as an array of bulk strings. The Append* functions add to a buffer the
// caller owns and reuses; none of them allocates once the buffer has grown to size.

// AppendArrayHeader appends "*n\r\n", the header of a command of n arguments.
func AppendArrayHeader(dst []byte, n int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendBulkString appends s as a bulk string.
func AppendBulkString(dst []byte, s string) []byte {
	dst = appendBulkHeader(dst, len(s))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendBulk appends b as a bulk string.
func AppendBulk(dst []byte, b []byte) []byte {
	dst = appendBulkHeader(dst, len(b))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendBulkInt appends the decimal text of n as a bulk string.
func AppendBulkInt(dst []byte, n int64) []byte {
	var tmp [20]byte
	return AppendBulk(dst, strconv.AppendInt(tmp[:0], n, 10))
}

// AppendBulkFloat appends f as a bulk string in the form AppendFloatText gives.
func AppendBulkFloat(dst []byte, f float64) []byte {
	var tmp [32]byte
	return AppendBulk(dst, AppendFloatText(tmp[:0], f))
}

// AppendFloatText appends f as an argument's text, in the form Redis parses: "inf", "-inf", or the
// shortest plain decimal that reads back as f, never in exponent form: "1000000", not "1e+06" (a
// command that wants an integer refuses that), and "1234567.5", not "1.2345675e+06" (stored as a
// value, the text is what every client reads back, and go-redis and rueidis write it so too). -0 is
// written "0". NaN is written "nan": a command that parses a float refuses it, a value is stored
// as that text.
func AppendFloatText(dst []byte, f float64) []byte {
	switch {
	case f == 0:
		return append(dst, '0') // -0 would read "-0", which no integer argument takes
	case math.IsInf(f, 0) || math.IsNaN(f):
		return appendDouble(dst, f)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

func appendBulkHeader(dst []byte, n int) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendCommand appends a whole command. Each argument must be a string, []byte, int, int64,
// int32, uint64, float64 or bool (written as 1 or 0), or a *string, *[]byte or *int64 (how
// actoredis stores arguments inside a request without boxing them again); any other type fails
// with an error and dst is returned unchanged, and so does a command with no arguments (ErrEmptyCommand:
// the server answers "*0" with nothing, so a client waiting for one reply per command would pair
// every later reply with the command before it).
//
// Passing values through ...any may make the caller box them (an allocation for strings and for
// integers outside 0..255); AppendCommand itself allocates nothing. Callers on a hot path with
// typed arguments can use AppendArrayHeader and the AppendBulk* functions instead.
func AppendCommand(dst []byte, args ...any) ([]byte, error) {
	if len(args) == 0 {
		return dst, ErrEmptyCommand
	}
	start := len(dst)
	dst = AppendArrayHeader(dst, len(args))
	for i, a := range args {
		var err error
		if dst, err = AppendArg(dst, a); err != nil {
			return dst[:start], fmt.Errorf("argument %d: %w", i, err)
		}
	}
	return dst, nil
}

// AppendArg appends one command argument as a bulk string; see AppendCommand for the types.
func AppendArg(dst []byte, a any) ([]byte, error) {
	switch v := a.(type) {
	case string:
		return AppendBulkString(dst, v), nil
	case []byte:
		return AppendBulk(dst, v), nil
	case *string:
		if v == nil {
			return dst, errNilPointer
		}
		return AppendBulkString(dst, *v), nil
	case *[]byte:
		if v == nil {
			return dst, errNilPointer
		}
		return AppendBulk(dst, *v), nil
	case *int64:
		if v == nil {
			return dst, errNilPointer
		}
		return AppendBulkInt(dst, *v), nil
	case int:
		return AppendBulkInt(dst, int64(v)), nil
	case int64:
		return AppendBulkInt(dst, v), nil
	case int32:
		return AppendBulkInt(dst, int64(v)), nil
	case uint64:
		if v > math.MaxInt64 {
			var tmp [20]byte
			return AppendBulk(dst, strconv.AppendUint(tmp[:0], v, 10)), nil
		}
		return AppendBulkInt(dst, int64(v)), nil
	case float64:
		return AppendBulkFloat(dst, v), nil
	case bool:
		if v {
			return AppendBulkString(dst, "1"), nil
		}
		return AppendBulkString(dst, "0"), nil
	}
	return dst, fmt.Errorf("resp: unsupported argument type %T", a)
}

var errNilPointer = errors.New("resp: nil pointer argument")

// ErrEmptyCommand is AppendCommand's error for a command with no arguments, not even a name.
var ErrEmptyCommand = errors.New("resp: empty command")

// AppendStrings appends a command whose arguments are all strings. It allocates nothing.
func AppendStrings(dst []byte, args ...string) []byte {
	dst = AppendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = AppendBulkString(dst, a)
	}
	return dst
}

// ArgInt reads an integer argument of any type AppendArg writes as one, or its text (a string or
// bytes argument holding a decimal integer).
func ArgInt(a any) (int64, bool) {
	switch v := a.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case *int64:
		if v != nil {
			return *v, true
		}
		return 0, false
	case bool: // written as 1 or 0
		if v {
			return 1, true
		}
		return 0, true
	case float64: // a whole number is written as one
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), true
		}
		return 0, false
	}
	text, ok := ArgText(a)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	return n, err == nil
}

// ArgBytes returns the bytes AppendArg writes for a, its bulk string's payload: a key or a
// number as the server reads it (a number's digits...). ok is false when AppendArg refuses a. It
// allocates.
func ArgBytes(a any) ([]byte, bool) {
	b, err := AppendArg(nil, a)
	if err != nil {
		return nil, false
	}
	// The payload: after "$n\r\n", before the final "\r\n".
	for i := 0; i < len(b); i++ {
		if b[i] == '\n' {
			return b[i+1 : len(b)-2], true
		}
	}
	return nil, false
}

// ArgText returns the text of a string or bytes argument (string, *string, []byte, *[]byte): a
// command name or keyword. ok is false for other types and nil pointers. Only the byte forms
// allocate.
func ArgText(a any) (string, bool) {
	switch v := a.(type) {
	case []byte:
		return string(v), true
	case *[]byte:
		if v != nil {
			return string(*v), true
		}
		return "", false
	}
	return ArgString(a)
}

// EqualFoldAny reports whether s is one of names, ignoring case (a command name or keyword
// against those it may be). It allocates nothing.
func EqualFoldAny(s string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(s, n) {
			return true
		}
	}
	return false
}

// ArgString returns the text of a string argument (string or *string); ok is false for other
// types. It allocates nothing.
func ArgString(a any) (s string, ok bool) {
	switch v := a.(type) {
	case string:
		return v, true
	case *string:
		if v != nil {
			return *v, true
		}
	}
	return "", false
}
