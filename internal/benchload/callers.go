// Package benchload drives go test benchmarks with many concurrent callers. Test code only.
package benchload

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
)

// RunCallers runs op b.N times in all, from callers goroutines at once (a plain loop for one
// caller), reporting allocations and the process's CPU time per op (cpu-µs/op: user + system,
// every goroutine of the client; the servers are other processes), and fails the benchmark if
// any call returned an error.
func RunCallers(b *testing.B, callers int, op func() error) {
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
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
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d operations failed", n)
	}
}

// processCPU returns the user and system CPU time of the whole process so far, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
