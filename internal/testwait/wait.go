// Package testwait bounds what tests wait for on channels: a wait that would hang fails its test
// after Bound, naming what did not come, instead of running into the suite's timeout.
package testwait

import (
	"fmt"
	"testing"
	"time"
)

// Bound is how long a test waits for something that should come at once: a bound on a hang,
// not a measurement.
const Bound = 10 * time.Second

// Recv returns the next value from ch. When none comes within Bound it fails t with the message
// that failure and args make (what went wrong: "Close waits for the parked reader"). A closed ch
// gives its zero value, as a receive does.
func Recv[T any](t testing.TB, ch <-chan T, failure string, args ...any) T {
	t.Helper()
	return recv(t, Bound, ch, failure, args...)
}

// Next is Recv for a channel that must stay open: a closed ch fails t as well.
func Next[T any](t testing.TB, ch <-chan T, failure string, args ...any) T {
	t.Helper()
	return next(t, Bound, ch, failure, args...)
}

func recv[T any](t testing.TB, bound time.Duration, ch <-chan T, failure string, args ...any) T {
	t.Helper()
	v, _ := wait(t, bound, ch, failure, args...)
	return v
}

func next[T any](t testing.TB, bound time.Duration, ch <-chan T, failure string, args ...any) T {
	t.Helper()
	v, open := wait(t, bound, ch, failure, args...)
	if !open {
		t.Fatalf("%s (the channel was closed)", fmt.Sprintf(failure, args...))
	}
	return v
}

// wait receives from ch; ok is false when ch was closed, or (after failing t) nothing came.
func wait[T any](t testing.TB, bound time.Duration, ch <-chan T, failure string, args ...any) (v T, ok bool) {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case v, ok = <-ch:
		return v, ok
	case <-timer.C:
		t.Fatalf("%s (nothing within %s)", fmt.Sprintf(failure, args...), bound)
		return v, false
	}
}
