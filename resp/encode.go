package resp

import "strconv"

// AppendValue appends v in its RESP3 encoding (simple errors and strings as lines, everything else
// length-prefixed), attributes first. Fake servers and tests use it to write replies; a value read
// and written back reads the same (RESP2 nulls come back as RESP3's _). A KindInvalid value is
// written as a null.
func AppendValue(dst []byte, v Value) []byte {
	if v.attrs != nil {
		dst = appendAggregate(dst, '|', *v.attrs)
	}
	switch v.kind {
	case KindSimpleString:
		return appendLine(dst, '+', v.str)
	case KindError:
		return appendLine(dst, '-', v.str)
	case KindInteger:
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, v.num, 10)
		return append(dst, '\r', '\n')
	case KindBulkString:
		return appendBlob(dst, '$', v.str)
	case KindBulkError:
		return appendBlob(dst, '!', v.str)
	case KindVerbatim:
		return appendBlob(dst, '=', v.str)
	case KindBigNumber:
		return appendLine(dst, '(', v.str)
	case KindBoolean:
		if v.num != 0 {
			return append(dst, "#t\r\n"...)
		}
		return append(dst, "#f\r\n"...)
	case KindDouble:
		dst = append(dst, ',')
		dst = appendDouble(dst, v.Float())
		return append(dst, '\r', '\n')
	case KindArray:
		return appendAggregate(dst, '*', v)
	case KindSet:
		return appendAggregate(dst, '~', v)
	case KindPush:
		return appendAggregate(dst, '>', v)
	case KindMap:
		return appendAggregate(dst, '%', v)
	}
	return append(dst, "_\r\n"...)
}

func appendLine(dst []byte, marker byte, text []byte) []byte {
	dst = append(dst, marker)
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

func appendBlob(dst []byte, marker byte, b []byte) []byte {
	dst = append(dst, marker)
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// appendAggregate writes v's elements under marker; maps and attributes count pairs.
func appendAggregate(dst []byte, marker byte, v Value) []byte {
	n := len(v.elems)
	if marker == '%' || marker == '|' {
		n /= 2
	}
	dst = append(dst, marker)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, '\r', '\n')
	for _, e := range v.elems {
		dst = AppendValue(dst, e)
	}
	return dst
}
