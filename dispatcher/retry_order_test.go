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
// until it opens, and then appends the value to a log and answers its length. It opens at the
// first RPUSH of 0 after openAtHead.
type refusing struct {
	srv       *fakeredis.Server
	mu        sync.Mutex
	refusal   string
	open      bool
	opening   bool
	count     int // RPUSHes refused
	reachedCh map[int]chan struct{}
	log       []int
}

func newRefusing(t *testing.T, refusal string) *refusing {
	f := &refusing{refusal: refusal, reachedCh: map[int]chan struct{}{}}
	var shards string
	f.srv = fakeredis.New(t, serveSlowly(0, func() string { return shards }, f.answer))
	shards = fakeredis.ShardsReply(fakeredis.Shard{Addr: f.srv.Addr(), Ranges: [][2]int{{0, slotmap.NumSlots - 1}}})
	return f
}

func (f *refusing) answer(cmd []string) string {
	if !strings.EqualFold(cmd[0], "RPUSH") {
		return "+OK\r\n"
	}
	v, _ := strconv.Atoi(cmd[2])
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opening && v == 0 {
		f.open = true
	}
	if !f.open {
		f.count++
		for k, ch := range f.reachedCh {
			if f.count >= k {
				close(ch)
				delete(f.reachedCh, k)
			}
		}
		return "-" + f.refusal + "\r\n"
	}
	f.log = append(f.log, v)
	return fmt.Sprintf(":%d\r\n", len(f.log))
}

// reached returns a channel closed once the server has refused more commands than it has now.
func (f *refusing) reached(more int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.reachedCh[f.count+more] = ch
	return ch
}

func (f *refusing) openAtHead() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opening = true
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
// head of a round: one whose state changes as it reads a round (a restarted master ending its
// CLUSTERDOWN) refuses the round's first and runs the rest, which no queue sent whole can mend.
func TestRetriesOfASlotRunInTheOrderSent(t *testing.T) {
	for _, tc := range []struct{ refusal, open string }{
		{"TRYAGAIN Multiple keys request during rehashing of slot", "at the head"},
		{"CLUSTERDOWN The cluster is down", "at the head"},
		{"LOADING Redis is loading the dataset in memory", "at the head"},
	} {
		t.Run(strings.Fields(tc.refusal)[0]+" "+tc.open, func(t *testing.T) {
			const n, later = 200, 50
			f := newRefusing(t, tc.refusal)
			h := f.start(t)
			rounds := f.reached(n + 2) // each refused, then two rounds more
			rs := push(h, 0, n)
			testwait.Recv(t, rounds, "the server refused fewer than %d commands", n+2)
			more := 2
			if strings.HasPrefix(tc.refusal, "TRYAGAIN") {
				more += later // commands of one key pass a TRYAGAIN queue, and are refused
			}
			rounds = f.reached(more)
			rs = append(rs, push(h, n, n+later)...) // new ones while the first wait
			testwait.Recv(t, rounds, "the server refused fewer than %d more commands", more)
			f.openAtHead()
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
