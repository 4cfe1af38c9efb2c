package api

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testlog"
	"github.com/actoredis/actoredis/internal/testwait"
)

// A handler that panics on every event is logged and skipped: the nodes keep their connections,
// the handlers registered after it still hear every event, and commands run.
func TestPanickingHandlersAreLoggedAndContained(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	var logs testlog.Buffer
	cl, err := CreateCluster(ClusterOptions{
		RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	cl.OnEvent(func(e Event) { panic("handler bug on " + string(e.Type)) })
	cl.OnError(func(error) { panic("error handler bug") })
	var mu sync.Mutex
	var events []Event
	cl.OnEvent(func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	ctx := context.Background()
	require.NoError(t, cl.Connect(ctx))
	for i := range 200 {
		k := "panicky:" + strconv.Itoa(i)
		_, err := cl.Do(ctx, Cmd("SET", k, i))
		require.NoError(t, err, "SET %s", k)
		v, err := cl.Get(ctx, k)
		require.NoError(t, err, "GET %s", k)
		assert.Equal(t, strconv.Itoa(i), v)
	}
	// No error happens above; one emitted here reaches both handlers.
	cl.emit(Event{Type: EventError, Err: errors.New("refresh failed")})
	require.NoError(t, cl.Close())
	assert.Contains(t, logs.String(), "OnError handler panicked")
	assert.Contains(t, logs.String(), "error handler bug")

	mu.Lock()
	defer mu.Unlock()
	ready := map[string]int{}
	emitted := slices.IndexFunc(events, func(e Event) bool { return e.Type == EventError })
	require.GreaterOrEqual(t, emitted, 0, "the emitted error reached the second handler")
	for _, e := range events[:emitted] {
		assert.NotContains(t, []EventType{EventNodeDisconnect, EventNodeReconnecting, EventNodeError, EventError}, e.Type,
			"%s %s before Close: %v", e.Type, e.Addr, e.Err)
		if e.Type == EventNodeReady {
			ready[e.Addr]++
		}
	}
	assert.Len(t, ready, len(tc.Addrs()), "every node got ready")
	for addr, n := range ready {
		assert.Equal(t, 1, n, "%s got ready %d times: its connection was dropped", addr, n)
	}
	assert.Equal(t, EventDisconnect, events[len(events)-1].Type)
	assert.Contains(t, logs.String(), "OnEvent handler panicked")
	assert.Contains(t, logs.String(), "handler bug on node-ready")
	assert.Equal(t, len(events), strings.Count(logs.String(), "OnEvent handler panicked"),
		"one logged panic per event")
	assert.Contains(t, logs.String(), "events_test.go", "the stack of the panic is logged")
}

// A handler may call Close: on EventConnect (emitted by Connect, which holds the client's
// lifecycle lock) and on a node event (which comes from the slot map actor, which Close stops).
func TestHandlersMayClose(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	for _, on := range []EventType{EventConnect, EventNodeReady} {
		cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
		require.NoError(t, err)
		closed := make(chan error, 1)
		var once sync.Once
		cl.OnEvent(func(e Event) {
			if e.Type == on {
				once.Do(func() { closed <- cl.Close() })
			}
		})
		var seen []EventType
		var mu sync.Mutex
		cl.OnEvent(func(e Event) { mu.Lock(); seen = append(seen, e.Type); mu.Unlock() })
		connected := make(chan error, 1)
		go func() { connected <- cl.Connect(context.Background()) }()
		deadline := time.After(30 * time.Second) // a bound on a deadlock, not a measurement
		for _, ch := range []chan error{connected, closed} {
			select {
			case err := <-ch:
				require.NoError(t, err, on)
			case <-deadline:
				t.Fatalf("Connect, or Close called from a %s handler, did not return", on)
			}
		}
		require.NoError(t, cl.Close(), "Close from outside waits for the delivery to end")
		mu.Lock()
		assert.Equal(t, EventDisconnect, seen[len(seen)-1], "%s: disconnect is the last event", on)
		mu.Unlock()
		_, err = cl.Do(context.Background(), Cmd("GET", "k"))
		assert.ErrorIs(t, err, ErrClientClosed)
	}
}

// A handler that blocks holds at most maxPendingEvents behind it: the newer events are dropped and
// counted in the log, except EventDisconnect, which is delivered last.
func TestBlockedHandlerBoundsTheQueue(t *testing.T) {
	var logs testlog.Buffer
	cl, err := CreateCluster(ClusterOptions{
		RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:1"}},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	unblock := make(chan struct{})
	entered := make(chan struct{})
	var got []Event
	cl.OnEvent(func(e Event) {
		if len(got) == 0 {
			close(entered)
			<-unblock
		}
		got = append(got, e)
	})
	cl.emit(Event{Type: EventError, Err: errors.New("first")})
	<-entered // the delivering goroutine holds the first event: everything after it waits
	for i := range maxPendingEvents + 100 {
		cl.emit(Event{Type: EventNodeError, Addr: strconv.Itoa(i)})
	}
	cl.emit(Event{Type: EventDisconnect})
	close(unblock)
	cl.waitDelivered()
	require.Equal(t, 1+maxPendingEvents+1, len(got), "events delivered")
	assert.Equal(t, strconv.Itoa(maxPendingEvents-1), got[maxPendingEvents].Addr, "the oldest waiting events are kept, in order")
	assert.Equal(t, EventDisconnect, got[len(got)-1].Type)
	assert.Contains(t, logs.String(), "events dropped")
	assert.Contains(t, logs.String(), "dropped=100")
	require.NoError(t, cl.Close())
}

// The bound counts every event waiting, those of the batch being delivered too: a handler blocked
// in the middle of a batch holds no more than maxPendingEvents behind it. (It counted only the
// events not yet taken into a batch, so up to twice as many waited.)
func TestTheQueueBoundCountsTheBatchUnderWay(t *testing.T) {
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:1"}}})
	require.NoError(t, err)
	gate := make(chan struct{})
	entered := make(chan string, 4*maxPendingEvents)
	delivered := 0
	cl.OnEvent(func(e Event) {
		entered <- e.Addr
		<-gate
		delivered++
	})
	cl.emit(Event{Type: EventNodeError, Addr: "first"})
	require.Equal(t, "first", <-entered)
	for i := range maxPendingEvents {
		cl.emit(Event{Type: EventNodeError, Addr: "a" + strconv.Itoa(i)})
	}
	gate <- struct{}{} // "first" is done; the next batch is every a-event
	require.Equal(t, "a0", <-entered)
	for i := range maxPendingEvents {
		cl.emit(Event{Type: EventNodeError, Addr: "b" + strconv.Itoa(i)})
	}
	close(gate)
	cl.waitDelivered()
	assert.Equal(t, 2+maxPendingEvents, delivered, `"first", the one in the handler, and maxPendingEvents waiting`)
	require.NoError(t, cl.Close())
}

// A handler that ends its goroutine (runtime.Goexit, as t.FailNow does) does not end the delivery:
// the handlers after it still get that event, the events after it reach every handler, the count
// of events dropped meanwhile is logged, and Close returns. (Close waited forever; then the other
// handlers missed the event, and the count was lost.)
func TestAHandlerThatExitsItsGoroutine(t *testing.T) {
	var logs testlog.Buffer
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:1"}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	var mu sync.Mutex
	var first, second, onErr []string
	record := func(to *[]string, what string) {
		mu.Lock()
		*to = append(*to, what)
		mu.Unlock()
	}
	entered, unblock := make(chan struct{}), make(chan struct{})
	cl.OnEvent(func(e Event) {
		record(&first, e.Addr)
		switch e.Addr {
		case "held":
			close(entered)
			<-unblock
		case "exits":
			runtime.Goexit()
		}
	})
	cl.OnEvent(func(e Event) { record(&second, e.Addr) })
	cl.OnError(func(err error) { record(&onErr, err.Error()) })
	cl.emit(Event{Type: EventNodeError, Addr: "held", Err: errors.New("held")})
	<-entered
	for i := range maxPendingEvents - 2 { // with "exits" and "after", the queue is full
		cl.emit(Event{Type: EventNodeConnect, Addr: strconv.Itoa(i)})
	}
	for _, a := range []string{"exits", "after", "dropped"} {
		cl.emit(Event{Type: EventNodeError, Addr: a, Err: errors.New(a)})
	}
	close(unblock)
	closed := make(chan struct{})
	go func() {
		_ = cl.Close()
		close(closed)
	}()
	testwait.Recv(t, closed, "Close waits for a delivery that ended")
	cl.emit(Event{Type: EventNodeError, Addr: "later", Err: errors.New("later")})
	cl.waitDelivered()
	mu.Lock()
	defer mu.Unlock()
	tail := func(l []string) []string { return l[max(0, len(l)-3):] }
	assert.Equal(t, []string{"exits", "after", "later"}, tail(first))
	assert.Equal(t, []string{"exits", "after", "later"}, tail(second), "the handler after the one that exited")
	assert.Equal(t, []string{"held", "exits", "after", "later"}, onErr)
	assert.Contains(t, logs.String(), "dropped=1")
}

// OnError hears every event with an error, a node's lost connection included, naming the node
// (it heard a bare "EOF").
func TestOnErrorHearsLostConnections(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + tc.Addrs()[0]}}})
	require.NoError(t, err)
	lost := make(chan error, 16)
	cl.OnError(func(err error) { lost <- err })
	ctx := context.Background()
	require.NoError(t, cl.Connect(ctx))
	t.Cleanup(func() { _ = cl.Close() })
	require.NoError(t, cl.Set(ctx, "k", "v")) // the connection is up
	_, err = tc.Masters()[0].Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	require.NoError(t, err)
	err = testwait.Recv(t, lost, "OnError did not hear of the lost connection")
	require.Error(t, err)
	assert.Contains(t, err.Error(), tc.Masters()[0].Addr(), "names the node: %v", err)
}

// A handler that registers another and then ends its goroutine is not called again with the same
// event: the delivery resumes in the list of handlers the event started with. (The new handler
// shifted the list, and the one that exited had the event twice.)
func TestResumedDeliveryKeepsItsHandlers(t *testing.T) {
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:1"}}})
	require.NoError(t, err)
	var mu sync.Mutex
	var calls []string
	record := func(s string) {
		mu.Lock()
		calls = append(calls, s)
		mu.Unlock()
	}
	first := true
	cl.OnError(func(err error) {
		record("E1:" + err.Error())
		if first {
			first = false
			cl.OnEvent(func(e Event) { record("B:" + e.Addr) })
			runtime.Goexit()
		}
	})
	cl.OnError(func(err error) { record("E2:" + err.Error()) })
	cl.emit(Event{Type: EventNodeError, Addr: "a", Err: errors.New("a")})
	cl.emit(Event{Type: EventNodeError, Addr: "b", Err: errors.New("b")})
	cl.waitDelivered()
	require.NoError(t, cl.Close())
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"E1:a", "E2:a", "B:b", "E1:b", "E2:b"}, calls)
}
