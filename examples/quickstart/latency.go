package main

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/api"
)

// latencies counts command latencies by power of two of microseconds, from any goroutine: what a
// Hooks.CommandDone for metrics does (quick, no lock, no command of the client).
type latencies struct {
	buckets [32]atomic.Uint64 // bucket b: latencies below 2^b µs (and at least 2^(b-1))
	failed  atomic.Uint64
}

func (l *latencies) observe(d api.CommandDone) {
	if d.Err != nil {
		l.failed.Add(1)
	}
	l.buckets[min(bits.Len64(uint64(d.Duration/time.Microsecond)), len(l.buckets)-1)].Add(1)
}

// reset forgets what was counted.
func (l *latencies) reset() {
	for i := range l.buckets {
		l.buckets[i].Store(0)
	}
	l.failed.Store(0)
}

// below returns the bound under which the fraction q of the counted latencies fell (rounded up to
// a power of two of microseconds), and how many were counted.
func (l *latencies) below(q float64) (time.Duration, uint64) {
	var counts [len(latencies{}.buckets)]uint64
	var total uint64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Load()
		total += counts[i]
	}
	var seen uint64
	for b, n := range counts {
		seen += n
		if total > 0 && float64(seen) >= q*float64(total) {
			return time.Duration(uint64(1)<<b) * time.Microsecond, total
		}
	}
	return 0, total
}
