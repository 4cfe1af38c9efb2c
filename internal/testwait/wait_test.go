package testwait

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a testing.TB that records a Fatalf instead of ending the goroutine.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if v := Recv(t, ch, "value"); v != 7 {
		t.Fatalf("Recv = %d, want 7", v)
	}
	r := &recorder{TB: t}
	if v := recv(r, time.Millisecond, ch, "%s hangs", "Close"); v != 0 ||
		r.failed != "Close hangs (nothing within 1ms)" {
		t.Fatalf("recv on an empty channel = %d, failed with %q", v, r.failed)
	}
	close(ch)
	r.failed = ""
	if v := recv(r, time.Millisecond, ch, "hangs"); v != 0 || r.failed != "" {
		t.Fatalf("recv on a closed channel = %d, failed with %q", v, r.failed)
	}

	r.failed = ""
	if v := next(r, time.Millisecond, ch, "no message"); v != 0 || r.failed != "no message (the channel was closed)" {
		t.Fatalf("next on a closed channel = %d, failed with %q", v, r.failed)
	}
	open := make(chan int, 1)
	open <- 3
	if v := Next(t, open, "no message"); v != 3 {
		t.Fatalf("Next = %d, want 3", v)
	}
}
