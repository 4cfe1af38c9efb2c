package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func spawnLendable(t *testing.T, opts SpawnOptions) *fixture {
	t.Helper()
	sys := NewSystem(nil)
	t.Cleanup(sys.Shutdown)
	return spawnCounter(t, sys, opts)
}

// awaitAsleep waits until the actor's goroutine has parked with nothing queued: the state in which
// TryRun lends it. There is no event for it; the mailbox's own flag is polled.
func (f *fixture) awaitAsleep(t *testing.T) {
	t.Helper()
	m := f.lender.m
	for deadline := time.Now().Add(10 * time.Second); ; {
		m.mu.Lock()
		asleep := m.sleeping && len(m.user) == 0 && len(m.sys) == 0
		m.mu.Unlock()
		if asleep {
			return
		}
		require.True(t, time.Now().Before(deadline), "the actor never went idle")
		runtime.Gosched()
	}
}

// lendBlocked lends the idle actor a job that blocks it, on another goroutine, and returns once the
// actor handles it; TryRun's result arrives on lent.
func (f *fixture) lendBlocked(t *testing.T, n int) (j *job, lent chan bool) {
	t.Helper()
	f.awaitAsleep(t)
	j = blockingJob(n)
	lent = make(chan bool)
	go func() { lent <- f.lender.TryRun(j) }()
	<-j.entered
	return j, lent
}

func blockingJob(n int) *job {
	j := newJob(n)
	j.entered, j.block = make(chan struct{}), make(chan struct{})
	return j
}

func replyOf(t *testing.T, j *job) int64 {
	t.Helper()
	v, err := j.Await()
	require.NoError(t, err)
	return mustInt(v)
}

// An idle actor handed a job by TryRun handles it on the caller's goroutine (this test is on the
// handler's stack) before TryRun returns.
func TestLenderRunsAnIdleActorOnTheCallersGoroutine(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{NotifyDrained: true})
	f.awaitAsleep(t)
	j := newJob(7)
	j.trace = true
	require.True(t, f.lender.TryRun(j))
	require.True(t, j.IsDone(), "TryRun returned before the actor answered")
	assert.Contains(t, j.stack, "TestLenderRunsAnIdleActorOnTheCallersGoroutine", "the job ran on another goroutine")
	assert.EqualValues(t, 7, replyOf(t, j))
	assert.EqualValues(t, 1, f.drained.Load(), "the lender delivers Drained once the mailbox ran empty")

	f.awaitAsleep(t)
	j = newJob(8)
	j.follow = true // answered from a message the actor sends itself: its goroutine handles that one
	require.True(t, f.lender.TryRun(j))
	assert.EqualValues(t, 8, replyOf(t, j))
}

// A busy actor is not lent: TryRun handles nothing, and the job is the caller's to post.
func TestLenderRefusesABusyActor(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{})
	busy := blockingJob(1)
	f.sys.Root().Send(f.pid, busy)
	<-busy.entered

	j := newJob(2)
	require.False(t, f.lender.TryRun(j))
	close(busy.block)
	assert.EqualValues(t, 1, replyOf(t, busy))
	assert.False(t, j.IsDone(), "a refused job was handled")

	f.sys.Root().Send(f.pid, j)
	assert.EqualValues(t, 2, replyOf(t, j))
	var unbound *Lender
	assert.False(t, unbound.TryRun(j))
}

// Jobs posted while the actor is lent are not the lender's: they wait, and wake the actor's own
// goroutine when the lender leaves.
func TestLenderLeavesWhatIsPostedMeanwhileToTheGoroutine(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{})
	first, lent := f.lendBlocked(t, 0)
	f.postWhileLent(t, first, lent)
}

// postWhileLent posts a job while first, blocked, holds the lent actor, lets first finish, and
// checks that the actor's own goroutine, not the lender, handled the posted one, never both at once.
func (f *fixture) postWhileLent(t *testing.T, first *job, lent chan bool) {
	t.Helper()
	second := newJob(first.n + 1)
	second.trace = true
	f.sys.Root().Send(f.pid, second)
	close(first.block)
	require.True(t, <-lent)
	assert.EqualValues(t, first.n, replyOf(t, first))
	assert.EqualValues(t, second.n, replyOf(t, second))
	assert.NotContains(t, second.stack, "tryRun", "the lender handled a job posted by someone else")
	assert.Contains(t, second.stack, "pinnedMailbox).run")
	assert.False(t, f.overlap.Load(), "two goroutines ran the actor at once")
}

// Lenders and posters on several goroutines never run the actor at once, and lose nothing. Each
// round starts them together on an idle actor, so lenders and posters meet.
func TestLendersAndPostersRunTheActorOneAtATime(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{NotifyDrained: true})
	const workers, rounds = 4, 300
	var lentCount atomic.Int64
	for round := range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				j := newJob(round*workers + w)
				j.follow = (w+round)%3 == 0
				<-start
				if (w+round)%2 == 0 && f.lender.TryRun(j) {
					lentCount.Add(1)
				} else {
					f.sys.Root().Send(f.pid, j)
				}
				if v, err := j.Await(); err != nil || mustInt(v) != int64(j.n) {
					t.Errorf("job %d: %v %v", j.n, v, err)
				}
			})
		}
		f.awaitAsleep(t)
		close(start)
		wg.Wait()
	}
	assert.False(t, f.overlap.Load(), "two goroutines ran the actor at once")
	assert.Positive(t, lentCount.Load(), "no job was ever lent the actor")
	assert.EqualValues(t, 1, f.instances.Load(), "the actor restarted")
	t.Logf("%d of %d jobs lent", lentCount.Load(), workers*rounds)
}

// A lent job whose handler panics is failed like a posted one, and the actor restarts.
func TestLenderFailsAJobWhoseHandlerPanicked(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{})
	f.awaitAsleep(t)
	j := newJob(1)
	j.panic = true
	require.True(t, f.lender.TryRun(j))
	_, err := j.Await()
	require.ErrorIs(t, err, ErrActorPanicked)

	next := newJob(2)
	f.sys.Root().Send(f.pid, next)
	assert.EqualValues(t, 2, replyOf(t, next))
	assert.EqualValues(t, 2, f.instances.Load(), "the actor was not restarted")
}

// A lender that leaves because a system message came meanwhile cannot deliver Drained (the
// system message goes first): the actor's goroutine delivers it after the system message.
func TestLenderLeavingForASystemMessageLeavesDrainedOwed(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{NotifyDrained: true})
	j, lent := f.lendBlocked(t, 1)
	f.lender.m.PostSystemMessage(&actor.Unwatch{Watcher: f.pid})
	close(j.block)
	require.True(t, <-lent)
	assert.EqualValues(t, 1, replyOf(t, j))
	f.awaitDrained(t, 1)
	assert.EqualValues(t, 1, f.drained.Load())
}

// A Stop posted while the actor is lent is handled by its goroutine once the lender leaves; a
// stopped actor is never lent.
func TestLenderLeavesSystemMessagesToTheGoroutine(t *testing.T) {
	f := spawnLendable(t, SpawnOptions{})
	j, lent := f.lendBlocked(t, 1)
	stopped := f.sys.Root().StopFuture(f.pid)
	close(j.block)
	require.True(t, <-lent)
	assert.EqualValues(t, 1, replyOf(t, j))
	require.NoError(t, stopped.Wait())
	assert.False(t, f.lender.TryRun(newJob(2)), "a stopped actor was lent")
}

// heldSpin returns a yield for an idle mailbox's spin that holds the goroutine there until
// released, telling spinning each time it is held; once released, it yields no more.
func heldSpin() (yield func(), spinning chan struct{}, release func()) {
	spinning, gate := make(chan struct{}, 1), make(chan struct{})
	yield = func() {
		select {
		case spinning <- struct{}{}:
		default:
		}
		<-gate
	}
	return yield, spinning, sync.OnceFunc(func() { close(gate) })
}

// An actor whose goroutine is yielding before it sleeps is idle too, and is lent: with one
// processor and another goroutine busy, a yield waits out that one's time slice, and a lone
// caller refused then had each command cross three goroutines, each waiting so long (a review,
// GOMAXPROCS=1 beside one busy goroutine: 27–35 GETs a second, 161–808 on a bare connection).
// What is posted while the goroutine is still yielding after the lender left is its own.
func TestLenderTakesAnActorYieldingBeforeItSleeps(t *testing.T) {
	yield, spinning, release := heldSpin()
	f := spawnLendable(t, SpawnOptions{yield: yield})
	defer release()
	<-spinning // idle, held in its first yield

	j := newJob(5)
	j.trace = true
	require.True(t, f.lender.TryRun(j), "the actor yielding was not lent")
	assert.EqualValues(t, 5, replyOf(t, j))
	assert.Contains(t, j.stack, "TestLenderTakesAnActorYieldingBeforeItSleeps", "the job ran on another goroutine")

	posted := newJob(6)
	posted.trace = true
	f.sys.Root().Send(f.pid, posted)
	release()
	assert.EqualValues(t, 6, replyOf(t, posted))
	assert.Contains(t, posted.stack, "pinnedMailbox).run", "the goroutine back from its yield handles what was posted")
	assert.False(t, f.overlap.Load(), "two goroutines ran the actor at once")
}

// A goroutine back from its yield while a lender runs the actor sleeps until the lender leaves,
// then handles what was posted meanwhile: never two at once.
func TestGoroutineBackFromItsYieldWhileLentSleeps(t *testing.T) {
	yield, spinning, release := heldSpin()
	f := spawnLendable(t, SpawnOptions{yield: yield})
	defer release()
	<-spinning

	first := blockingJob(1)
	lent := make(chan bool)
	go func() { lent <- f.lender.TryRun(first) }()
	select {
	case <-first.entered:
	case ok := <-lent:
		require.True(t, ok, "the actor yielding was not lent")
	}
	release()        // back from its yield, lent: it sleeps
	f.awaitAsleep(t) // the lender still holds the actor
	f.postWhileLent(t, first, lent)
}
