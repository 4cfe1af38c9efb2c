package actors

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// System is one protoactor ActorSystem with the project's defaults: protoactor's logging routed to
// the client's logger (silent by default), dead letters that carry futures failed at once, pinned
// actors, and a Shutdown that stops every actor it spawned and waits for their goroutines.
//
// One System belongs to one client. It is safe for concurrent use.
type System struct {
	sys *actor.ActorSystem

	mu      sync.Mutex
	actors  map[*actor.PID]struct{}
	running sync.WaitGroup // one per pinned mailbox goroutine
	// strategies holds one supervisor strategy per restart policy, guarded by mu: protoactor keeps
	// a guardian process for each strategy it is given, for the system's life, so a new one per
	// Spawn left a guardian behind for every actor ever spawned (a node actor per address that
	// enters the map again).
	strategies map[restartPolicy]actor.SupervisorStrategy
}

// restartPolicy is SpawnOptions' MaxRestarts within RestartWindow.
type restartPolicy struct {
	max    int
	window time.Duration
}

// NewSystem starts an actor system. logger receives protoactor's own messages at Warn and above
// (dead letters and recovered panics are logged by protoactor at Info and are not shown); nil
// discards them.
func NewSystem(logger *slog.Logger) *System {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	proto := slog.New(minLevel{logger.Handler(), slog.LevelWarn}).With("component", "protoactor")
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return proto }),
		// The throttle's goroutine lives for one interval after each dead letter; keep it short so
		// nothing outlives a client by more than a moment.
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	s := &System{sys: sys, actors: map[*actor.PID]struct{}{}}
	sys.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			failMessage(dl.Message, ErrActorStopped)
		}
	})
	return s
}

// Root returns the root context, for sending messages from outside any actor.
func (s *System) Root() *actor.RootContext { return s.sys.Root }

// SpawnOptions tune Spawn.
type SpawnOptions struct {
	// NotifyDrained delivers a *Drained message whenever the actor's mailbox runs empty after it
	// handled user messages.
	NotifyDrained bool
	// MaxRestarts within RestartWindow before a panicking actor is stopped for good
	// (defaults 10 and 10 s, protoactor's own).
	MaxRestarts   int
	RestartWindow time.Duration
	// Lender, when set, is bound to the actor's mailbox: its TryRun runs the actor on the caller's
	// goroutine while the actor is idle.
	Lender *Lender

	yield func() // in place of runtime.Gosched in the idle mailbox's spin: a test's
}

// Lender runs an idle actor on the caller's goroutine instead of waking the actor's own: a lone
// caller's command then crosses no goroutine on its way out. Only one goroutine runs the actor at a
// time, the actor's own or a lender's. It is safe for concurrent use.
type Lender struct{ m *pinnedMailbox }

// TryRun handles msg at once on this goroutine, when the actor's goroutine is asleep (or yielding
// before it sleeps) and nothing is queued, and reports true. Messages posted to the actor
// meanwhile, its own to itself included, are left to its goroutine. Otherwise TryRun does nothing
// and reports false: post msg as usual.
func (l *Lender) TryRun(msg any) bool { return l != nil && l.m != nil && l.m.tryRun(msg) }

// Spawn starts a pinned actor named name (unique within the system; "" picks one). A panic in the
// actor restarts it (a new instance from producer), failing the message it was handling.
func (s *System) Spawn(name string, producer func() actor.Actor, opts SpawnOptions) (*actor.PID, error) {
	if opts.MaxRestarts <= 0 {
		opts.MaxRestarts = 10
	}
	if opts.RestartWindow <= 0 {
		opts.RestartWindow = 10 * time.Second
	}
	s.running.Add(1)
	var self atomic.Pointer[actor.PID] // set once spawned: a mailbox closes only after its actor started
	props := actor.PropsFromProducer(producer,
		actor.WithMailbox(func() actor.Mailbox {
			m := newPinnedMailbox(opts.NotifyDrained, s.running.Done)
			m.dropped = func(msg any) {
				// As a dead letter: protoactor answers a Watch among them with Terminated.
				s.sys.EventStream.Publish(&actor.DeadLetterEvent{PID: self.Load(), Message: msg})
			}
			if opts.Lender != nil {
				opts.Lender.m = m
			}
			if opts.yield != nil {
				m.yield = opts.yield
			}
			return m
		}),
		actor.WithGuardian(s.strategy(restartPolicy{opts.MaxRestarts, opts.RestartWindow})),
	)
	var pid *actor.PID
	var err error
	if name == "" {
		pid = s.sys.Root.Spawn(props)
	} else {
		pid, err = s.sys.Root.SpawnNamed(props, name)
	}
	if err != nil {
		s.running.Done() // no mailbox was started
		return nil, err
	}
	self.Store(pid)
	s.mu.Lock()
	s.actors[pid] = struct{}{}
	s.mu.Unlock()
	return pid, nil
}

// strategy returns the supervisor strategy of p, the same for every actor spawned with it (see
// System.strategies). A child's restarts are counted in its own context, not in the strategy.
func (s *System) strategy(p restartPolicy) actor.SupervisorStrategy {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.strategies[p]
	if !ok {
		st = actor.NewOneForOneStrategy(p.max, p.window, actor.DefaultDecider)
		if s.strategies == nil {
			s.strategies = map[restartPolicy]actor.SupervisorStrategy{}
		}
		s.strategies[p] = st
	}
	return st
}

// Stop stops an actor after the messages already queued for it (a poison pill) and waits until it
// has stopped, or until timeout; then it stops it at once (messages still queued are failed).
func (s *System) Stop(pid *actor.PID, timeout time.Duration) {
	stopped := false
	if timeout > 0 {
		// The poison future has its own fixed timeout (10 s): wait for it no longer than ours. Its
		// goroutine ends when the actor has stopped, below if not before.
		poisoned := s.sys.Root.PoisonFuture(pid)
		done := make(chan error, 1)
		go func() { done <- poisoned.Wait() }()
		timer := time.NewTimer(timeout)
		select {
		case err := <-done:
			stopped = err == nil
		case <-timer.C:
		}
		timer.Stop()
	}
	if !stopped {
		_ = s.sys.Root.StopFuture(pid).Wait()
	}
	s.mu.Lock()
	delete(s.actors, pid)
	s.mu.Unlock()
}

// Shutdown stops every actor still running, waits for their goroutines, and shuts the system
// down. Nothing may be spawned afterwards; a message sent to one of its actors then fails its
// future with ErrActorStopped.
func (s *System) Shutdown() {
	s.mu.Lock()
	pids := make([]*actor.PID, 0, len(s.actors))
	for pid := range s.actors {
		pids = append(pids, pid)
	}
	s.actors = map[*actor.PID]struct{}{}
	s.mu.Unlock()
	for _, pid := range pids {
		_ = s.sys.Root.StopFuture(pid).Wait()
	}
	s.running.Wait()
	// The dead-letter subscription stays: a message sent to one of the stopped actors after this
	// (a handle kept by a caller, a Send racing Close) is a dead letter, and its future must still
	// fail rather than wait forever. It holds no goroutine.
	s.sys.Shutdown()
}
