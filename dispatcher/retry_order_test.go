package dispatcher

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// refusing is a fake one-node cluster that answers RPUSH with refusal (TRYAGAIN, CLUSTERDOWN...)
// until it opens, and then appends the value to a log and answers its length. SETRANGE, the
// dispatcher's probe, it refuses as well, and answers 0 once open. It opens at the head of a round
// after openAtHead (the first RPUSH of 0 or probe), or after refusing as many more as openAfter
// says, wherever that falls.
type refusing struct {
	srv     *fakeredis.Server
	mu      sync.Mutex
	refusal string
	open    bool
	opening bool
	left    int     // refusals before it opens, when counting down (-1: not)
	refused counter // RPUSHes refused
	probes  counter // probes refused
	log     []int
}

// counter counts, and closes the channels of those waiting for a count.
type counter struct {
	n     int
	waits map[int]chan struct{}
}

func (c *counter) add() {
	c.n++
	for k, ch := range c.waits {
		if c.n >= k {
			close(ch)
			delete(c.waits, k)
		}
	}
}

// after returns a channel closed once c has counted more.
func (c *counter) after(more int) <-chan struct{} {
	if c.waits == nil {
		c.waits = map[int]chan struct{}{}
	}
	ch := make(chan struct{})
	c.waits[c.n+more] = ch
	return ch
}

func newRefusing(t *testing.T, refusal string) *refusing {
	f := &refusing{refusal: refusal, left: -1}
	var shards string
	f.srv = fakeredis.New(t, serveSlowly(0, func() string { return shards }, f.answer))
	shards = fakeredis.ShardsReply(fakeredis.Shard{Addr: f.srv.Addr(), Ranges: [][2]int{{0, slotmap.NumSlots - 1}}})
	return f
}

func (f *refusing) answer(cmd []string) string {
	probe := strings.EqualFold(cmd[0], "SETRANGE")
	if !probe && !strings.EqualFold(cmd[0], "RPUSH") {
		return "+OK\r\n"
	}
	v := -1
	if !probe {
		v, _ = strconv.Atoi(cmd[2])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opening && (probe || v == 0) || f.left == 0 {
		f.open = true
	}
	if !f.open {
		if f.left > 0 {
			f.left--
		}
		if probe {
			f.probes.add()
		} else {
			f.refused.add()
		}
		return "-" + f.refusal + "\r\n"
	}
	if probe {
		return ":0\r\n"
	}
	f.log = append(f.log, v)
	return fmt.Sprintf(":%d\r\n", len(f.log))
}

// rounds returns a channel closed once the server has refused n more rounds of the slot's
// queue: its probes, or for TRYAGAIN (not probed) those of the first many RPUSHes.
func (f *refusing) rounds(n, many int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(f.refusal, "TRYAGAIN") {
		return f.refused.after(n * many)
	}
	return f.probes.after(n)
}

func (f *refusing) openAtHead() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opening = true
}

// openAfter opens f once it has refused n more commands.
func (f *refusing) openAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = n
}

// start starts a slot map on the fake cluster and a dispatcher on it, closed at the end of the test.
func (f *refusing) start(t *testing.T) *Handle {
	_, h := startOn(t, slotmap.Options{Roots: []string{f.srv.Addr()}})
	return h
}

// push sends RPUSH key i through h for each i in [from, to), and returns their requests.
func push(h *Handle, from, to int) []*Request {
	rs := make([]*Request, 0, to-from)
	for i := from; i < to; i++ {
		r := &Request{}
		r.Init(h, []any{"RPUSH", "key", strconv.Itoa(i)})
		r.Deadline = time.Now().Add(testwait.Bound)
		h.Send(r)
		rs = append(rs, r)
	}
	return rs
}

// One caller's pipeline to a key that meets a transient refusal comes out in the order sent: its
// retries wait in one queue for their slot, and what is sent to the slot meanwhile waits behind
// them (but for commands of one key behind TRYAGAIN, which they never meet: those are refused,
// and join the queue). (Each in a backoff of its own, they ran in the order their random backoffs
// drew: of 250, 241-248 ran ahead of a smaller one, in 9 of 9 runs.) The server opens at the
// head of a round, or inside one: a server whose state changes as it reads a round (a restarted
// master ending its CLUSTERDOWN) refuses the round up to a command and runs the rest. A queue of
// CLUSTERDOWN or LOADING probes the server first (see probeFirst): sent whole, the round came out
// [1-249 0] so. (TRYAGAIN, which only commands of several keys meet, is not probed: the
// server's state is the keys', not its own.)
func TestRetriesOfASlotRunInTheOrderSent(t *testing.T) {
	const head, inside = "at the head of a round", "inside a round"
	for _, tc := range []struct{ refusal, open string }{
		{"TRYAGAIN Multiple keys request during rehashing of slot", head},
		{"CLUSTERDOWN The cluster is down", head},
		{"LOADING Redis is loading the dataset in memory", head},
		{"CLUSTERDOWN The cluster is down", inside},
		{"LOADING Redis is loading the dataset in memory", inside},
	} {
		t.Run(strings.Fields(tc.refusal)[0]+" "+tc.open, func(t *testing.T) {
			const n, later = 200, 50
			f := newRefusing(t, tc.refusal)
			h := f.start(t)
			rounds := f.rounds(2, n) // each refused (or given back: LOADING), then two rounds more
			rs := push(h, 0, n)
			testwait.Recv(t, rounds, "the server refused fewer than two rounds")
			// New ones while the first wait; commands of one key pass a TRYAGAIN queue, and are
			// refused, then wait in it.
			rounds = f.rounds(2, n+later)
			rs = append(rs, push(h, n, n+later)...)
			testwait.Recv(t, rounds, "the server refused fewer than two more rounds")
			if tc.open == head {
				f.openAtHead()
			} else {
				f.openAfter(1) // the next round's first
			}
			for i, r := range rs {
				testwait.Recv(t, r.Done(), "RPUSH %d never completed", i)
				_, err := r.Future.Await()
				require.NoError(t, err, "RPUSH %d", i)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			want := make([]int, n+later)
			for i := range want {
				want[i] = i
			}
			assert.Equal(t, want, f.log, "the order the server ran them in")
		})
	}
}

// A request held behind its slot's retries gives up at its own deadline, not at the end of the
// queue's backoff; the queue waits on for the rest.
func TestHeldRequestGivesUpAtItsDeadline(t *testing.T) {
	a := &dispatcherActor{opts: Options{}.withDefaults(), h: idleHandle(t)}
	defer a.giveUpWaiting()
	keyed := func(deadline time.Time) *Request {
		r := &Request{}
		r.Init(a.h, []any{"RPUSH", "k", "v"})
		r.keyed, r.slot, r.Deadline = true, int16(slotmap.Slot("k")), deadline
		return r
	}
	first := keyed(time.Time{})
	first.tries = 6
	a.backOff(first, resp.ErrLoading) // no map to refresh here: LOADING asks for none
	q := a.heldFor(first, comeBack)
	require.NotNil(t, q, "a keyed request backing off holds its slot")
	require.Equal(t, q.at, q.fire, "with no deadline the queue fires at the end of its backoff")

	short := keyed(time.Now().Add(time.Hour))
	short.Deadline = q.at.Add(-time.Millisecond)
	a.hold(q, short, sentNew)
	assert.Equal(t, short.Deadline, q.fire, "its deadline, before the backoff's end, fires the queue")

	short.Deadline = time.Now().Add(-time.Millisecond) // as if that time had come
	a.onRetryNow(messageOnly{}, q)
	_, err := short.Future.Await()
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, resp.ErrLoading, "it says what its slot's retries met")
	assert.False(t, first.IsDone(), "the rest waits out the backoff")
	assert.Equal(t, []*Request{first}, q.members())
	assert.Equal(t, q.at, q.fire)
	assert.Same(t, q, a.heldFor(first, comeBack))
}
