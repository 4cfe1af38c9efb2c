package dispatcher

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// loadingServer is a one-node fake cluster that answers RPUSH with LOADING until the dispatcher's
// probe (SETRANGE) is answered, which it holds until release is closed.
type loadingServer struct {
	srv     *fakeredis.Server
	mu      sync.Mutex
	open    bool
	log     []int
	probed  chan struct{}
	release chan struct{}
	once    sync.Once
}

func newLoadingServer(t *testing.T) *loadingServer {
	f := &loadingServer{probed: make(chan struct{}, 64), release: make(chan struct{})}
	var shards string
	f.srv = fakeredis.New(t, serveSlowly(0, func() string { return shards }, func(cmd []string) string {
		switch strings.ToUpper(cmd[0]) {
		case "SETRANGE":
			f.probed <- struct{}{}
			<-f.release
			f.mu.Lock()
			f.open = true
			f.mu.Unlock()
			return ":0\r\n"
		case "RPUSH":
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.open {
				return "-LOADING Redis is loading the dataset in memory\r\n"
			}
			v, _ := strconv.Atoi(cmd[2])
			f.log = append(f.log, v)
			return fmt.Sprintf(":%d\r\n", len(f.log))
		}
		return "+OK\r\n"
	}))
	shards = fakeredis.ShardsReply(fakeredis.Shard{Addr: f.srv.Addr(), Ranges: [][2]int{{0, slotmap.NumSlots - 1}}})
	t.Cleanup(f.free) // before the server's own cleanup, which waits for its connections
	return f
}

func (f *loadingServer) free() { f.once.Do(func() { close(f.release) }) }

// The dispatcher restarts (a panic: here a probeDone naming no probe) while a LOADING queue's
// probe is out, and the slot's next commands come after. The queue is routed as the old instance
// restarts, ahead of them, and runs as soon as the server takes it. (It stayed with the old
// instance, whose probe's answer the next one ignored, and went at its timer, 2 s later, behind
// the newer commands: [10 ... 19 0 ... 9], in a review's test.)
func TestRestartRoutesALoadingQueueWithItsProbeOut(t *testing.T) {
	f := newLoadingServer(t)
	_, h := startOn(t, slotmap.Options{Roots: []string{f.srv.Addr()}})

	old := push(h, 0, 10)
	testwait.Recv(t, f.probed, "no probe came")
	h.sys.Root().Send(h.pid, &probeDone{}) // its nil probe panics the actor, which restarts
	fresh := push(h, 10, 20)
	f.free()
	released := time.Now()
	for i, r := range append(old, fresh...) {
		testwait.Recv(t, r.Done(), "RPUSH %d never completed", i)
		_, err := r.Future.Await()
		require.NoError(t, err, "RPUSH %d", i)
		if i == len(old)-1 {
			assert.Less(t, time.Since(released), 500*time.Millisecond, "the queue waited past the server's opening")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := make([]int, 20)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, f.log, "the order the server ran them in")
}

// restarted has the instance a, which a panic ended, handle its Restarting, and a next instance,
// made as Start's producer makes one, handle every timer's message of either (caught by the
// catcher behind h) until each of rs is complete or sent, then its Stopping (Close). It returns
// those of rs neither.
func restarted(t *testing.T, a *dispatcherActor, snap *slotmap.Snapshot, caught catcher, rs []*Request) []string {
	var recs []*sendRecorder
	rec := func(msg any) *sendRecorder {
		c := &sendRecorder{messageOnly: messageOnly{msg: msg}}
		recs = append(recs, c)
		return c
	}
	left := func() []string {
		sent := map[*node.Request]bool{}
		for _, c := range recs {
			for _, r := range toNodes(c) {
				sent[r] = true
			}
		}
		var names []string
		for i, r := range rs {
			if !r.IsDone() && !sent[&r.Request] {
				names = append(names, strconv.Itoa(i)+":"+r.Name())
			}
		}
		return names
	}
	a.Receive(rec(&actor.Restarting{}))
	next := &dispatcherActor{opts: a.opts, h: a.h, snap: snap}
	next.Receive(rec(&actor.Started{}))
	for bound := time.After(testwait.Bound); len(left()) > 0; {
		select {
		case msg := <-caught:
			switch msg.(type) {
			case *retryNow, *probeDone, *gateOpen:
				next.Receive(rec(msg))
			}
		case <-bound:
			next.Receive(rec(&actor.Stopping{}))
			return left()
		}
	}
	next.Receive(rec(&actor.Stopping{}))
	t.Cleanup(a.giveUpWaiting)
	return nil
}

// A map the dispatcher panics on while it routes the queues waiting in a backoff (a keyless
// retry meets its nil shard) leaves nothing behind: the PING whose routing panicked fails, and
// the restart routes the rest. (The queues whose timers the map had stopped were taken for ones
// whose timers had fired, and the one being routed had been dropped: 8 of 31 requests were
// neither sent nor failed after Close, in a review's test.)
func TestPanicWhileAMapRoutesRetriesLeavesNoneBehind(t *testing.T) {
	m, before, _, h, caught := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	deadline := time.Now().Add(2 * time.Second)
	var rs []*Request
	for i := range 30 {
		key := "k" + strconv.Itoa(i)
		r := &Request{}
		r.Init(h, []any{"RPUSH", key, "v"})
		r.keyed, r.slot, r.Deadline, r.tries = true, int16(slotmap.Slot(key)), deadline, 3
		a.backOff(r, resp.ErrClusterDown)
		rs = append(rs, r)
	}
	ping := &Request{}
	ping.Init(h, []any{"PING"})
	ping.Deadline, ping.tries = deadline, 5
	a.backOff(ping, &node.ConnError{Addr: before.Master(0).Addr, Command: "PING", Err: errors.New("EOF")})
	rs = append(rs, ping)
	require.Len(t, a.waiting, 31)

	bad := &slotmap.Snapshot{Version: before.Version + 1, Shards: []*slotmap.ShardRefs{nil}}
	require.Panics(t, func() { a.Receive(&sendRecorder{messageOnly: messageOnly{msg: bad}}) })
	assert.Empty(t, restarted(t, a, before, caught, rs), "neither sent nor complete by Close")
	require.True(t, ping.IsDone(), "the PING whose routing panicked")
	_, err := ping.Future.Await()
	assert.ErrorIs(t, err, actors.ErrActorPanicked, "the PING whose routing panicked")
}

// A panic while a gate's opening routes what it held (a GET meets a shard without its master)
// leaves nothing behind either: the restart routes the queues of the gate's other slots, though
// the gate was forgotten. (They were left with no timer behind a gate no one knew: 30 of 30 GETs
// neither sent nor failed after Close, in a review's test.)
func TestPanicWhileAGateOpensLeavesNoneBehind(t *testing.T) {
	m, before, after, h, caught := movedMaps(t)
	a := &dispatcherActor{opts: Options{Map: m}.withDefaults(), h: h, snap: before}
	a.Receive(&sendRecorder{messageOnly: messageOnly{msg: after}}) // moves every slot: one gate
	require.Len(t, a.gates, 1)
	var g *gate
	for g = range a.gates {
	}
	var rs []*Request
	for i := range 30 {
		r := &Request{}
		r.Init(h, []any{"GET", "k" + strconv.Itoa(i)})
		r.Deadline = time.Now().Add(2 * time.Second)
		ctx := &sendRecorder{messageOnly: messageOnly{msg: r}}
		a.Receive(ctx)
		require.Empty(t, toNodes(ctx), "held by the gate")
		rs = append(rs, r)
	}
	good := a.snap
	a.snap = &slotmap.Snapshot{Version: after.Version + 1, Shards: []*slotmap.ShardRefs{{Replicas: []*slotmap.Ref{{Addr: "r:1"}}}}}
	a.opts.UseReplicas = true
	require.Panics(t, func() { a.Receive(&sendRecorder{messageOnly: messageOnly{msg: &gateOpen{g: g}}}) })
	a.snap, a.opts.UseReplicas = good, false
	assert.Empty(t, restarted(t, a, after, caught, rs), "neither sent nor complete by Close")
	failed := 0
	for _, r := range rs {
		if !r.IsDone() {
			continue // sent: the recorder delivers nothing
		}
		if _, err := r.Future.Await(); errors.Is(err, actors.ErrActorPanicked) {
			failed++
		}
	}
	assert.Equal(t, 1, failed, "the GET whose routing panicked, alone")
}
