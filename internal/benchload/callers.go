// Package benchload drives go test benchmarks with many concurrent callers. Test code only.
package benchload

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// RunCallers runs op b.N times in all, from callers goroutines at once (a plain loop for one
// caller), reporting allocations, and fails the benchmark if any call returned an error.
func RunCallers(b *testing.B, callers int, op func() error) {
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if callers == 1 {
		for i := 0; i < b.N; i++ {
			if op() != nil {
				failed.Add(1)
			}
		}
	} else {
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if op() != nil {
					failed.Add(1)
				}
			}
		})
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d operations failed", n)
	}
}
