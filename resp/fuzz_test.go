package resp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to a Reader with small limits. It must never panic; every value
// it decodes must encode back to bytes that decode to an equal value; and it must stop with an
// error (or a clean EOF) after consuming the input.
//
// Seeds live in testdata/fuzz/FuzzReader. Run: go test ./resp -run '^$' -fuzz FuzzReader -fuzztime 5m
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n", "_\r\n",
		"*2\r\n$1\r\na\r\n:2\r\n", "#t\r\n", ",1.5\r\n", ",nan\r\n", "(123\r\n", "!3\r\nERR\r\n",
		"=7\r\ntxt:abc\r\n", "%1\r\n+k\r\n+v\r\n", "~1\r\n+a\r\n", ">2\r\n+message\r\n+x\r\n",
		"|1\r\n+a\r\n+b\r\n+c\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxBulkLen: 1 << 16, MaxAggregateLen: 1 << 10, MaxDepth: 16, MaxLineLen: 1 << 12}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), lim)
		for i := 0; ; i++ {
			v, err := r.Read()
			if err != nil {
				var pe *ProtocolError
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
			if i > len(data) {
				t.Fatalf("decoded %d values from %d bytes", i, len(data))
			}
			wire := AppendValue(nil, v)
			again, err := NewReader(bytes.NewReader(wire), lim).Read()
			if err != nil {
				t.Fatalf("re-reading %q (from %q): %v", wire, data, err)
			}
			if !Equal(v, again) {
				t.Fatalf("round trip changed the value: %s became %s", v, again)
			}
			_ = v.String()
			_ = v.Clone()
		}
	})
}
