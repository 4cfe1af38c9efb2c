package node

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/fakeredis"
)

// startNode starts a node actor in a fresh actor system; both end with the test.
func startNode(t testing.TB, opts Options) *Node {
	t.Helper()
	sys := actors.NewSystem(nil)
	n, err := Start(sys, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = n.Close(2 * time.Second)
		sys.Shutdown()
	})
	return n
}

// eventLog records node events for assertions.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event
}

func newEventLog() *eventLog { return &eventLog{ch: make(chan Event, 1024)} }

func (l *eventLog) record(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	select {
	case l.ch <- e:
	default:
	}
}

// waitFor returns the next event of type typ, failing the test after timeout.
func (l *eventLog) waitFor(t testing.TB, typ EventType, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-l.ch:
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", typ, timeout)
			return Event{}
		}
	}
}

func (l *eventLog) types() []EventType {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]EventType, len(l.events))
	for i, e := range l.events {
		out[i] = e.Type
	}
	return out
}

// pongs is a fake server's handler answering every command after the handshake with +PONG.
func pongs(c *fakeredis.Conn) {
	_, err := c.Handshake()
	for ; err == nil; _, err = c.ReadCommand() {
		err = c.Write("+PONG\r\n")
	}
}
