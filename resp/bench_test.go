package resp

import (
	"strconv"
	"testing"
)

// loop is an io.Reader that repeats the same bytes forever, so a benchmark decodes the same reply
// b.N times through the real bufio path.
type loop struct {
	data []byte
	off  int
}

func (l *loop) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func benchDecode(b *testing.B, reply []byte) {
	// Many copies per buffer fill, as on a busy pipelined connection.
	var data []byte
	for len(data) < 64<<10 {
		data = append(data, reply...)
	}
	r := NewReader(&loop{data: data}, Limits{})
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCommand3Args(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendStrings(buf[:0], "SET", "user:1000", "0123456789abcdef")
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEncodeCommand3ArgsAny(b *testing.B) {
	buf := make([]byte, 0, 256)
	args := []any{"SET", "user:1000", []byte("0123456789abcdef")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = AppendCommand(buf[:0], args...)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeBulkString(b *testing.B) {
	benchDecode(b, AppendValue(nil, BulkString("0123456789abcdef")))
}

func BenchmarkDecodeBulkStringClone(b *testing.B) {
	data := AppendValue(nil, BulkString("0123456789abcdef"))
	r := NewReader(&loop{data: data}, Limits{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		v, err := r.Read()
		if err != nil {
			b.Fatal(err)
		}
		_ = v.Clone()
	}
}

func BenchmarkDecodeArray100(b *testing.B) {
	elems := make([]Value, 100)
	for i := range elems {
		elems[i] = BulkString("member:" + strconv.Itoa(i))
	}
	benchDecode(b, AppendValue(nil, Array(elems...)))
}

func BenchmarkDecodeMapRESP3(b *testing.B) {
	// The shape of HELLO 3's reply: a map of seven fields, one an empty array.
	benchDecode(b, AppendValue(nil, Map(
		BulkString("server"), BulkString("redis"),
		BulkString("version"), BulkString("7.0.15"),
		BulkString("proto"), Integer(3),
		BulkString("id"), Integer(42),
		BulkString("mode"), BulkString("cluster"),
		BulkString("role"), BulkString("master"),
		BulkString("modules"), Array(),
	)))
}
