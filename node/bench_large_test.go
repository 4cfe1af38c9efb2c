package node

import (
	"strconv"
	"testing"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A SET and a GET of one large value through a node actor against a real redis-server on
// loopback, alone on the connection: the time a large value holds the connection (every command
// behind it on the node waits that long), and what it allocates.
//
//	go test ./node -run '^$' -bench LargeValue -benchmem
func BenchmarkLargeValue(b *testing.B) {
	srv := testcluster.NewStandalone(b, testcluster.Options{})
	for _, size := range []int{1 << 20, 16 << 20, 64 << 20} {
		value := make([]byte, size)
		for i := range value {
			value[i] = byte('a' + i%26)
		}
		name := strconv.Itoa(size>>20) + "MiB"
		n := startNode(b, Options{Addr: srv.Addr()})
		if _, err := n.Do(b.Context(), "SET", "bench:large", value); err != nil {
			b.Fatal(err)
		}
		b.Run("SET/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := n.Do(b.Context(), "SET", "bench:large", value); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("GET/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				v, err := n.Do(b.Context(), "GET", "bench:large")
				if err != nil || len(v.Bytes()) != size {
					b.Fatal(err, len(v.Bytes()))
				}
			}
		})
	}
}
