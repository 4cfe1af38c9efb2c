package actors

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/resp"
)

// job carries a future, like the project's real requests.
type job struct {
	Future
	n       int
	panic   bool
	follow  bool // the actor answers from a message it sends itself, as the node flushes
	trace   bool // the actor records in stack the stack of the goroutine that handles the job
	stack   string
	block   chan struct{} // when set, the actor waits on it before answering
	entered chan struct{} // when set, closed as the actor starts handling the job
}

type followUp struct{ j *job }

func newJob(n int) *job {
	j := &job{n: n}
	j.Init()
	return j
}

// counter answers each job with its number, and counts the Drained signals and instances. It
// counts the jobs it saw in a plain int, so the race detector sees two goroutines running it at
// once, and flags such an overlap itself too.
type counter struct {
	seen      int
	drained   *atomic.Int64
	drainedCh chan struct{} // told (without blocking) after each Drained
	instances *atomic.Int64
	active    *atomic.Int32
	overlap   *atomic.Bool
}

func (c *counter) Receive(ctx actor.Context) {
	if c.active.Add(1) > 1 {
		c.overlap.Store(true)
	}
	defer c.active.Add(-1)
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.instances.Add(1)
	case *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *Drained:
		c.drained.Add(1)
		select {
		case c.drainedCh <- struct{}{}:
		default:
		}
	case *job:
		if m.entered != nil {
			close(m.entered)
		}
		if m.block != nil {
			<-m.block
		}
		if m.panic {
			panic("injected")
		}
		c.seen++
		if m.trace {
			buf := make([]byte, 16<<10)
			m.stack = string(buf[:runtime.Stack(buf, false)])
		}
		if m.follow {
			ctx.Send(ctx.Self(), &followUp{j: m})
			return
		}
		m.Complete(resp.Integer(int64(m.n)), nil)
	case *followUp:
		m.j.Complete(resp.Integer(int64(m.j.n)), nil)
	}
}

type fixture struct {
	sys       *System
	pid       *actor.PID
	lender    Lender // bound by spawnCounter
	drained   atomic.Int64
	drainedCh chan struct{}
	instances atomic.Int64
	active    atomic.Int32
	overlap   atomic.Bool
}

func spawnCounter(t *testing.T, sys *System, opts SpawnOptions) *fixture {
	t.Helper()
	f := &fixture{sys: sys, drainedCh: make(chan struct{}, 1)}
	opts.Lender = &f.lender
	pid, err := sys.Spawn("", func() actor.Actor {
		return &counter{drained: &f.drained, drainedCh: f.drainedCh, instances: &f.instances, active: &f.active, overlap: &f.overlap}
	}, opts)
	require.NoError(t, err)
	f.pid = pid
	return f
}

// busyCounter spawns a counter and returns once it is inside a job that blocks until gate is
// closed: what is posted meanwhile queues.
func busyCounter(t *testing.T, sys *System) (fx *fixture, blocker *job, gate chan struct{}) {
	t.Helper()
	fx = spawnCounter(t, sys, SpawnOptions{})
	gate = make(chan struct{})
	blocker = newJob(0)
	blocker.block = gate
	blocker.entered = make(chan struct{})
	sys.Root().Send(fx.pid, blocker)
	<-blocker.entered
	return fx, blocker, gate
}

func TestPinnedActorPreservesOrderAndAnswersAll(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	fx := spawnCounter(t, sys, SpawnOptions{})
	const senders, each = 8, 2000
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs := make([]*job, each)
			for i := range jobs {
				jobs[i] = newJob(s*each + i)
				sys.Root().Send(fx.pid, jobs[i])
			}
			for i, j := range jobs {
				v, err := j.Await()
				require.NoError(t, err)
				assert.Equal(t, int64(s*each+i), mustInt(v))
			}
		}()
	}
	wg.Wait()
}

func mustInt(v resp.Value) int64 {
	n, err := v.Int64()
	if err != nil {
		panic(err)
	}
	return n
}

func TestDrainedFollowsABacklog(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	fx := spawnCounter(t, sys, SpawnOptions{NotifyDrained: true})
	gate := make(chan struct{})
	first := newJob(0)
	first.block = gate
	sys.Root().Send(fx.pid, first)
	jobs := []*job{first}
	for i := 1; i < 100; i++ {
		jobs = append(jobs, newJob(i))
		sys.Root().Send(fx.pid, jobs[i])
	}
	close(gate) // 100 jobs queued behind the first: one Drained after all of them
	for _, j := range jobs {
		_, err := j.Await()
		require.NoError(t, err)
	}
	fx.awaitDrained(t, 1)
	afterBacklog := fx.drained.Load()
	probe := newJob(100) // one lone job: its own Drained
	sys.Root().Send(fx.pid, probe)
	_, err := probe.Await()
	require.NoError(t, err)
	// Drained follows the job's answer; a Stop posted before it would overtake it.
	fx.awaitDrained(t, afterBacklog+1)
	sys.Stop(fx.pid, time.Second)
	assert.LessOrEqual(t, afterBacklog, int64(2), "Drained comes once per backlog, not per message")
	assert.Equal(t, afterBacklog+1, fx.drained.Load(), "the lone job's own Drained")
}

// awaitDrained waits, for at most 10 s, until the actor has been told Drained n times.
func (f *fixture) awaitDrained(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for f.drained.Load() < n {
		select {
		case <-f.drainedCh:
		case <-timeout:
			require.Failf(t, "Drained never came", "told %d times, waiting for %d", f.drained.Load(), n)
		}
	}
}

func TestStopFailsWhatIsQueuedAndWhatComesLater(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	fx, blocker, gate := busyCounter(t, sys)
	queued := make([]*job, 50)
	for i := range queued {
		queued[i] = newJob(i)
		sys.Root().Send(fx.pid, queued[i])
	}
	// Stop is a system message: it overtakes the queued jobs. protoactor's own mailbox would drop
	// them silently; here each one fails.
	sys.Root().Stop(fx.pid) // posted synchronously, while the blocker still runs
	close(gate)
	_, err := blocker.Await()
	require.NoError(t, err, "the message being handled completes")
	for _, j := range queued {
		_, err := j.Await()
		assert.ErrorIs(t, err, ErrActorStopped)
	}
	late := newJob(99)
	sys.Root().Send(fx.pid, late)
	_, err = late.Await()
	assert.ErrorIs(t, err, ErrActorStopped, "a message to a stopped actor is a dead letter, and fails")
}

func TestPanicRestartsAndFailsTheMessage(t *testing.T) {
	var logs bytes.Buffer
	sys := NewSystem(slog.New(slog.NewTextHandler(&logs, nil)))
	defer sys.Shutdown()
	fx := spawnCounter(t, sys, SpawnOptions{})
	bad := newJob(1)
	bad.panic = true
	sys.Root().Send(fx.pid, bad)
	_, err := bad.Await()
	require.ErrorIs(t, err, ErrActorPanicked)
	assert.Contains(t, err.Error(), "injected")
	good := newJob(2)
	sys.Root().Send(fx.pid, good)
	v, err := good.Await()
	require.NoError(t, err)
	assert.Equal(t, int64(2), mustInt(v))
	assert.Equal(t, int64(2), fx.instances.Load(), "a new instance after the restart")
}

func TestPoisonDrainsTheBacklog(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	fx := spawnCounter(t, sys, SpawnOptions{})
	jobs := make([]*job, 200)
	for i := range jobs {
		jobs[i] = newJob(i)
		sys.Root().Send(fx.pid, jobs[i])
	}
	sys.Stop(fx.pid, time.Second)
	for i, j := range jobs {
		v, err := j.Await()
		require.NoError(t, err, "job %d", i)
		assert.Equal(t, int64(i), mustInt(v))
	}
}

// slow handles each job in 20 ms: a backlog that takes longer than Stop's timeout.
type slow struct{}

func (slow) Receive(ctx actor.Context) {
	if j, ok := ctx.Message().(*job); ok {
		time.Sleep(20 * time.Millisecond) // the work
		j.Complete(resp.Integer(1), nil)
	}
}

// Stop waits for the backlog no longer than its timeout: then the actor stops at once, and the
// jobs still queued fail. (protoactor's poison future waits 10 s on its own.)
func TestStopCutsABacklogLongerThanItsTimeout(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	pid, err := sys.Spawn("", func() actor.Actor { return slow{} }, SpawnOptions{})
	require.NoError(t, err)
	jobs := make([]*job, 150) // 3 s of work
	for i := range jobs {
		jobs[i] = newJob(i)
		sys.Root().Send(pid, jobs[i])
	}
	sys.Stop(pid, 100*time.Millisecond)
	failed := 0
	for _, j := range jobs {
		if _, err := j.Await(); err != nil {
			require.ErrorIs(t, err, ErrActorStopped)
			failed++
		}
	}
	assert.Positive(t, failed, "the backlog was cut short")
}

func TestShutdownStopsEveryActor(t *testing.T) {
	sys := NewSystem(nil)
	for i := 0; i < 5; i++ {
		fx := spawnCounter(t, sys, SpawnOptions{NotifyDrained: i%2 == 0})
		j := newJob(i)
		sys.Root().Send(fx.pid, j)
		_, err := j.Await()
		require.NoError(t, err)
	}
	sys.Shutdown() // goleak in TestMain checks that every mailbox goroutine ended
}

// A message sent to an actor after the system shut down (a handle kept by a caller, a send that
// raced the client's Close) still fails its future.
func TestMessageAfterShutdownFails(t *testing.T) {
	sys := NewSystem(nil)
	fx := spawnCounter(t, sys, SpawnOptions{})
	sys.Shutdown()
	late := newJob(1)
	sys.Root().Send(fx.pid, late)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := late.AwaitContext(ctx)
	assert.ErrorIs(t, err, ErrActorStopped)
}

func TestSpawnNamedTwiceFails(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	prod := func() actor.Actor {
		return &counter{drained: new(atomic.Int64), instances: new(atomic.Int64), active: new(atomic.Int32), overlap: new(atomic.Bool)}
	}
	_, err := sys.Spawn("node-1", prod, SpawnOptions{})
	require.NoError(t, err)
	_, err = sys.Spawn("node-1", prod, SpawnOptions{})
	assert.Error(t, err)
}

// A Watch that reaches an actor in the batch that stops it is answered: the watcher gets its
// Terminated at once instead of waiting out protoactor's 10 s future. (StopFuture watches, then
// stops; here its Watch queues behind a Stop already posted.)
func TestWatchBehindAStopIsAnswered(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	fx, _, gate := busyCounter(t, sys)
	sys.Root().Stop(fx.pid)                  // queued while the blocker runs
	stopped := sys.Root().StopFuture(fx.pid) // its Watch queues behind that Stop
	close(gate)
	done := make(chan error, 1)
	go func() { done <- stopped.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the Watch behind the Stop was never answered")
	}
	after := sys.Root().StopFuture(fx.pid) // a Watch of an actor long stopped
	assert.NoError(t, after.Wait())
}

// A burst's queue arrays are not kept once the mailbox is empty again: after 40,000 messages
// queued at once, and two lone ones (the mailbox's two arrays trade places at each batch), neither
// array kept room for more than keepQueued messages. (Both kept the burst's size, for the client's
// life.)
func TestABurstsQueueIsNotKept(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	fx, _, gate := busyCounter(t, sys)
	jobs := make([]*job, 40_000)
	for i := range jobs {
		jobs[i] = newJob(i + 1)
		sys.Root().Send(fx.pid, jobs[i])
	}
	close(gate)
	for _, j := range jobs {
		_, err := j.Await()
		require.NoError(t, err)
	}
	m := fx.lender.m
	for i := range 2 {
		lone := newJob(50_000 + i)
		sys.Root().Send(fx.pid, lone)
		_, err := lone.Await()
		require.NoError(t, err)
		m.mu.Lock()
		kept := cap(m.user)
		m.mu.Unlock()
		assert.LessOrEqual(t, kept, keepQueued, "room kept after lone message %d", i)
	}
}

// Actors spawned and stopped leave nothing in protoactor's process registry: one guardian serves
// every actor of a restart policy. (A strategy made per Spawn left a guardian registered for each
// actor ever spawned: 1000 node actors for 1000 addresses, a review measured.)
func TestSpawnLeavesNoGuardianBehind(t *testing.T) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	processes := func() int {
		n := 0
		for _, m := range sys.sys.ProcessRegistry.LocalPIDs.LocalPIDs {
			n += m.Count()
		}
		return n
	}
	cycle := func(opts SpawnOptions) {
		fx := spawnCounter(t, sys, opts)
		sys.Stop(fx.pid, 5*time.Second)
	}
	cycle(SpawnOptions{})
	cycle(SpawnOptions{MaxRestarts: 3})
	before := processes()
	for range 50 {
		cycle(SpawnOptions{})
		cycle(SpawnOptions{MaxRestarts: 3})
	}
	assert.Equal(t, before, processes(), "processes registered after 100 actors spawned and stopped")

	// A panic still restarts an actor, and each actor's restarts count apart: two actors under one
	// guardian, each restarted once with MaxRestarts 1, both keep running.
	a, b := spawnCounter(t, sys, SpawnOptions{MaxRestarts: 1}), spawnCounter(t, sys, SpawnOptions{MaxRestarts: 1})
	for _, fx := range []*fixture{a, b} {
		boom := newJob(1)
		boom.panic = true
		sys.Root().Send(fx.pid, boom)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := boom.AwaitContext(ctx)
		cancel()
		require.Error(t, err, "the job that panicked fails")
	}
	for _, fx := range []*fixture{a, b} {
		j := newJob(7)
		sys.Root().Send(fx.pid, j)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := j.AwaitContext(ctx)
		cancel()
		require.NoError(t, err, "restarted")
		n, _ := v.Int64()
		assert.EqualValues(t, 7, n)
	}
}
