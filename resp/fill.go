package resp

import (
	"bytes"
	"errors"
)

// ErrNotBuffered is FillValue's answer for a reply it cannot wait for whole: larger than the
// Reader's buffer, or malformed (Read says how).
var ErrNotBuffered = errors.New("resp: reply not bufferable whole")

// PeekType returns the first byte of the next reply (its type: '+', '$', '>'...), reading the
// stream if nothing is buffered, or the stream's error. Unlike Read's, that error leaves the Reader
// usable, as nothing was decoded: a read deadline that passed (a timeout) can be followed by
// another PeekType or Read.
func (r *Reader) PeekType() (byte, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// FillValue reads the stream until the whole next reply is buffered, decoding nothing, so that
// the Read after it takes nothing from the stream. It returns ErrNotBuffered when the reply is
// larger than the buffer or malformed, or the stream's error; either leaves the Reader usable, as
// PeekType's does.
func (r *Reader) FillValue() error {
	for {
		b, _ := r.br.Peek(r.br.Buffered())
		switch end := r.valueEnd(b, 0, 0); {
		case end >= 0:
			return nil
		case end == notMeasurable:
			return ErrNotBuffered
		}
		if r.br.Buffered() == r.br.Size() {
			return ErrNotBuffered
		}
		if _, err := r.br.Peek(r.br.Buffered() + 1); err != nil {
			return err
		}
	}
}

// The answers of valueEnd besides an offset.
const (
	incomplete    = -1 // more bytes are needed
	notMeasurable = -2 // malformed, or nested too deep: Read reports it
)

// valueEnd returns the offset in b just past the reply that starts at b[i], or incomplete or
// notMeasurable. It checks only what it needs to find the end.
func (r *Reader) valueEnd(b []byte, i, depth int) int {
	for {
		if depth > r.lim.MaxDepth {
			return notMeasurable
		}
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return incomplete
		}
		line, next := b[i:i+nl+1], i+nl+1
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return notMeasurable
		}
		n, numeric := parseInt(line[1 : len(line)-2])
		switch line[0] {
		case '+', '-', ':', '(', ',', '#', '_':
			return next
		case '$', '!', '=':
			switch {
			case !numeric:
				return notMeasurable
			case n < 0:
				return next
			case n > int64(len(b)-next-2):
				return incomplete
			}
			return next + int(n) + 2
		case '*', '~', '>', '%', '|':
			if !numeric {
				return notMeasurable
			}
			if n < 0 {
				return next
			}
			if line[0] == '%' || line[0] == '|' {
				n *= 2
			}
			if n > int64(len(b)-next) { // every element takes at least one byte
				return incomplete
			}
			for range n {
				if next = r.valueEnd(b, next, depth+1); next < 0 {
					return next
				}
			}
			if line[0] != '|' {
				return next
			}
			i = next // an attribute map describes the value after it
		default:
			return notMeasurable
		}
	}
}
