package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Reader decodes replies from a stream, one per Read. It is not safe for concurrent use: one
// goroutine owns it (in actoredis, a connection's reader goroutine).
//
// The Value a Read returns borrows the Reader's buffers and is valid until the next Read; see
// Value.Clone. After an error other than a server error reply (which is a Value, not an error),
// the stream is out of step and the Reader must not be used again.
type Reader struct {
	br   *bufio.Reader
	lim  Limits
	buf  []byte  // arena for the bytes of the current reply
	vals []Value // arena for the elements of the current reply
	tmp  []Value // stack of elements of aggregates being read
	long []byte  // a line longer than the bufio buffer, assembled
	push bool    // the value Read last started is a push frame
}

// The arenas are dropped rather than kept between replies once they grow past these sizes, so
// one huge reply does not pin its memory for the connection's lifetime.
const (
	keepBytes = 1 << 20
	keepVals  = 1 << 14
)

// DefaultBufferSize is the size of the bufio.Reader NewReader puts in front of a plain io.Reader.
const DefaultBufferSize = 32 << 10

// NewReader returns a Reader of rd with the given limits (zero fields mean the defaults). When rd
// is a *bufio.Reader it is used as it is; otherwise a buffer of DefaultBufferSize is added.
func NewReader(rd io.Reader, lim Limits) *Reader {
	br, ok := rd.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(rd, DefaultBufferSize)
	}
	return &Reader{br: br, lim: lim.withDefaults()}
}

// Buffered returns how many bytes have been received but not yet decoded.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Read decodes the next reply. A server error reply is returned as a Value of KindError or
// KindBulkError with a nil error. The error is io.EOF when the stream ended cleanly between
// replies, io.ErrUnexpectedEOF when it ended inside one, a *ProtocolError when the bytes break the
// protocol or the Limits, or the underlying reader's error.
func (r *Reader) Read() (Value, error) {
	r.Trim()
	r.buf, r.vals, r.tmp, r.push = r.buf[:0], r.vals[:0], r.tmp[:0], false
	return r.readValue(0)
}

// Trim lets go of the memory of the last reply when it was large, as the next Read does: for a
// Reader that may wait long for its next reply. The Value the last Read returned must not be used
// after it.
func (r *Reader) Trim() {
	if cap(r.buf) > keepBytes {
		r.buf = nil
	}
	if cap(r.vals) > keepVals {
		r.vals = nil
	}
}

// ReadingPush reports whether the value the last Read started is a push frame, as far as Read
// got: after a failed Read, whether the failure was in a push frame (no command's reply).
func (r *Reader) ReadingPush() bool { return r.push }

func (r *Reader) readValue(depth int) (Value, error) {
	var attrs *Value
	valsMark, bufMark := len(r.vals), len(r.buf)
	for {
		line, err := r.readLine(depth > 0 || attrs != nil)
		if err != nil {
			return Value{}, err
		}
		if depth == 0 {
			r.push = line[0] == '>'
		}
		if line[0] != '|' {
			v, err := r.readBody(line, depth)
			v.attrs = attrs
			return v, err
		}
		// An attribute map precedes the value it describes; a loop, not recursion, so a stream of
		// attributes cannot grow the stack. Only the last one is kept: the arena goes back to where
		// it was before the first, so a stream of them cannot grow memory either.
		clear(r.vals[valsMark:])
		r.vals, r.buf = r.vals[:valsMark], r.buf[:bufMark]
		a, err := r.readAggregate(KindMap, line[1:], depth)
		if err != nil {
			return Value{}, err
		}
		r.vals = append(r.vals, a)
		attrs = &r.vals[len(r.vals)-1]
	}
}

// readBody decodes the value whose first line is line. line is only valid until the next read
// from r.br, so its payload is copied into the arena first.
func (r *Reader) readBody(line []byte, depth int) (Value, error) {
	body := line[1:]
	switch line[0] {
	case '+':
		return Value{kind: KindSimpleString, str: r.keep(body)}, nil
	case '-':
		return Value{kind: KindError, str: r.keep(body)}, nil
	case ':':
		n, ok := parseInt(body)
		if !ok {
			return Value{}, badLine("integer", line)
		}
		return Value{kind: KindInteger, num: n}, nil
	case '$':
		return r.readBlob(KindBulkString, line, true)
	case '!':
		return r.readBlob(KindBulkError, line, false)
	case '=':
		v, err := r.readBlob(KindVerbatim, line, false)
		if err == nil && (len(v.str) < 4 || v.str[3] != ':') {
			return Value{}, protocolError(ErrProtocol, "verbatim string without a format prefix")
		}
		return v, err
	case '(':
		if !validBigNumber(body) {
			return Value{}, badLine("big number", line)
		}
		return Value{kind: KindBigNumber, str: r.keep(body)}, nil
	case ',':
		f, err := parseDouble(body)
		if err != nil {
			return Value{}, badLine("double", line)
		}
		if math.IsNaN(f) {
			f = math.NaN() // one NaN, whatever the spelling
		}
		return Double(f), nil
	case '#':
		if len(body) == 1 && (body[0] == 't' || body[0] == 'f') {
			return Boolean(body[0] == 't'), nil
		}
		return Value{}, badLine("boolean", line)
	case '_':
		if len(body) != 0 {
			return Value{}, badLine("null", line)
		}
		return Value{kind: KindNull}, nil
	case '*':
		return r.readAggregate(KindArray, body, depth)
	case '~':
		return r.readAggregate(KindSet, body, depth)
	case '>':
		return r.readAggregate(KindPush, body, depth)
	case '%':
		return r.readAggregate(KindMap, body, depth)
	}
	return Value{}, protocolError(ErrProtocol, fmt.Sprintf("unknown type byte %q", line[0]))
}

// keep copies b into the arena and returns the copy, capped so appending to it cannot overwrite
// its neighbours.
func (r *Reader) keep(b []byte) []byte {
	start := len(r.buf)
	r.buf = append(r.buf, b...)
	return tailBytes(r.buf, start)
}

// readBlob reads a length-prefixed payload ($, !, =). nullable allows RESP2's $-1.
func (r *Reader) readBlob(kind Kind, line []byte, nullable bool) (Value, error) {
	n, ok := parseInt(line[1:])
	switch {
	case !ok || n < -1 || (n == -1 && !nullable):
		return Value{}, badLine("length", line)
	case n == -1:
		return Value{kind: KindNull}, nil
	case n > r.lim.MaxBulkLen:
		return Value{}, protocolError(ErrBulkTooLong, fmt.Sprintf("%d bytes announced, limit %d", n, r.lim.MaxBulkLen))
	}
	size := int(n)
	start := len(r.buf)
	if p, err := r.br.Peek(size + 2); err == nil {
		// The whole payload is buffered already: the common case for small replies.
		if p[size] != '\r' || p[size+1] != '\n' {
			return Value{}, protocolError(ErrProtocol, "bulk payload not followed by CRLF")
		}
		r.buf = append(r.buf, p[:size]...)
		_, _ = r.br.Discard(size + 2)
	} else if err := r.readPayload(size); err != nil {
		return Value{}, err
	}
	return Value{kind: kind, str: tailBytes(r.buf, start)}, nil
}

// readPayload appends size bytes and consumes the CRLF after them, growing the arena only as the
// bytes arrive, so a length header alone cannot make the Reader allocate. A large payload (no
// smaller than the bufio buffer) is read straight into the arena, past the bufio buffer, and the
// arena doubles as it fills, up to what is left of the payload: at most about 2.4 times what has
// arrived (append's rounding), and about one copy of the payload in all (append's growth, a quarter at a time for large
// slices, allocated five times a 16 MiB value and copied it four times).
func (r *Reader) readPayload(size int) error {
	large := size >= r.br.Size()
	for size > 0 {
		if large && r.br.Buffered() == 0 {
			r.grow(min(size, r.br.Size()), min(size, cap(r.buf)))
			free := r.buf[len(r.buf):min(cap(r.buf), len(r.buf)+size)]
			n, err := r.br.Read(free) // straight from the connection: free is no smaller than the buffer
			r.buf, size = r.buf[:len(r.buf)+n], size-n
			if err != nil && size > 0 {
				return unexpected(err)
			}
			continue
		}
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return unexpected(err)
			}
		}
		k := min(size, r.br.Buffered())
		p, _ := r.br.Peek(k)
		if large {
			r.grow(k, min(size, cap(r.buf)))
		}
		r.buf = append(r.buf, p...)
		_, _ = r.br.Discard(k)
		size -= k
	}
	cr, err := r.br.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	lf, err := r.br.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if cr != '\r' || lf != '\n' {
		return protocolError(ErrProtocol, "bulk payload not followed by CRLF")
	}
	return nil
}

// grow makes room in the arena for need more bytes, when it has less: room for need, or for more,
// when more is larger (readPayload's doubling, bounded by what its payload has left to come).
func (r *Reader) grow(need, more int) {
	if cap(r.buf)-len(r.buf) < need {
		r.buf = slices.Grow(r.buf, max(need, more))
	}
}

// readAggregate reads the elements of an array, set, push, map or attribute whose length text is
// body. Elements are gathered on r.tmp (which grows only as they arrive) and then moved into the
// arena as one contiguous slice.
func (r *Reader) readAggregate(kind Kind, body []byte, depth int) (Value, error) {
	n, ok := parseInt(body)
	switch {
	case ok && n == -1 && kind == KindArray:
		return Value{kind: KindNull}, nil // RESP2 null array
	case !ok || n < 0:
		return Value{}, protocolError(ErrProtocol, fmt.Sprintf("bad %s length %q", kind, body))
	case n > r.lim.MaxAggregateLen:
		return Value{}, protocolError(ErrAggregateTooLong, fmt.Sprintf("%s of %d announced, limit %d", kind, n, r.lim.MaxAggregateLen))
	case depth >= r.lim.MaxDepth:
		return Value{}, protocolError(ErrTooDeep, fmt.Sprintf("more than %d nested aggregates", r.lim.MaxDepth))
	}
	count := int(n)
	if kind == KindMap {
		count *= 2
	}
	mark := len(r.tmp)
	for i := 0; i < count; i++ {
		e, err := r.readValue(depth + 1)
		if err != nil {
			r.tmp = r.tmp[:mark]
			return Value{}, err
		}
		r.tmp = append(r.tmp, e)
	}
	start := len(r.vals)
	r.vals = append(r.vals, r.tmp[mark:]...)
	clear(r.tmp[mark:]) // drop references into old arenas
	r.tmp = r.tmp[:mark]
	return Value{kind: kind, elems: tailElems(r.vals, start)}, nil
}

// readLine returns the next line without its CRLF; it is non-empty and valid until the next read.
// inside tells whether a reply has begun, which turns a clean EOF into io.ErrUnexpectedEOF.
func (r *Reader) readLine(inside bool) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		line, err = r.readLongLine(line)
	}
	if err != nil {
		if errors.Is(err, io.EOF) && (inside || len(line) > 0) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line)-2 > r.lim.MaxLineLen {
		return nil, protocolError(ErrLineTooLong, fmt.Sprintf("%d bytes, limit %d", len(line)-2, r.lim.MaxLineLen))
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, badLine("line", line)
	}
	return line[:len(line)-2], nil
}

// readLongLine continues a line that did not fit the bufio buffer, up to MaxLineLen.
func (r *Reader) readLongLine(first []byte) ([]byte, error) {
	r.long = append(r.long[:0], first...)
	for {
		if len(r.long) > r.lim.MaxLineLen+2 {
			return nil, protocolError(ErrLineTooLong, fmt.Sprintf("more than %d bytes, limit %d", len(r.long), r.lim.MaxLineLen))
		}
		more, err := r.br.ReadSlice('\n')
		r.long = append(r.long, more...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return r.long, err
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// badLine reports a malformed line, quoting at most 64 bytes of it.
func badLine(what string, line []byte) *ProtocolError {
	if len(line) > 64 {
		line = line[:64]
	}
	return protocolError(ErrProtocol, fmt.Sprintf("bad %s %q", what, line))
}
