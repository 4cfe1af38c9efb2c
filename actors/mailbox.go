package actors

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// pinnedMailbox is a protoactor Mailbox that runs its actor on one long-lived goroutine.
//
// protoactor's default mailbox starts a fresh goroutine on every idle→busy transition (most of a
// lone caller's round trip was spent growing that goroutine's stack) and allocates per message.
// This one keeps a goroutine for the actor's whole life and queues messages in two slices that are
// swapped between the posters and the goroutine, so a message costs no allocation in steady state.
//
// It also closes the gaps that would leave a caller waiting: user messages still queued when the
// actor stops, or posted after it stopped, and a message whose handler panicked, are failed
// through Failer.
//
// The goroutine ends after the actor handled its Stop. Pinned actors must not spawn children.
type pinnedMailbox struct {
	mu       sync.Mutex
	user     []any // posted, not yet taken by the goroutine
	sys      []any
	sleeping bool // the goroutine waits on wake
	spinning bool // the goroutine yields, idle, before it sleeps (spinBeforeSleep): lendable too
	lent     bool // a poster runs the actor on its own goroutine (TryRun); the goroutine stays asleep
	closed   bool
	// owedDrained: a lender handled user messages but left before it could deliver Drained.
	owedDrained bool
	wake        chan struct{}

	pendingSys atomic.Int32 // system messages posted since the goroutine last looked
	userCount  atomic.Int32

	invoker       actor.MessageInvoker
	notifyDrained bool
	yield         func() // runtime.Gosched; a test's, to hold the goroutine in its spin
	suspended     bool   // owned by the goroutine
	done          func()
	// dropped takes a system message the closed mailbox will never handle (a Watch that reached a
	// stopping actor, say): the system answers it as a dead letter, so a watcher gets its
	// Terminated instead of waiting out its future. Set by Spawn before the mailbox starts.
	dropped func(msg any)
}

// spinBeforeSleep is how many times an idle mailbox yields before it parks its goroutine.
const spinBeforeSleep = 2

func newPinnedMailbox(notifyDrained bool, done func()) *pinnedMailbox {
	return &pinnedMailbox{wake: make(chan struct{}, 1), notifyDrained: notifyDrained, done: done, yield: runtime.Gosched}
}

func (m *pinnedMailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		failMessage(msg, ErrActorStopped)
		return
	}
	m.user = append(m.user, msg)
	m.userCount.Add(1)
	m.wakeLocked()
}

func (m *pinnedMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.drop(msg)
		return
	}
	m.sys = append(m.sys, msg)
	m.pendingSys.Add(1)
	m.wakeLocked()
}

// wakeLocked releases m.mu and wakes the goroutine if it sleeps and is not lent.
func (m *pinnedMailbox) wakeLocked() {
	if !m.sleeping || m.lent {
		m.mu.Unlock()
		return
	}
	m.sleeping = false
	m.mu.Unlock()
	m.wake <- struct{}{}
}

// tryRun handles msg on the calling goroutine when the actor is idle: its goroutine asleep or
// yielding before it sleeps (it then sleeps once back, see run), nothing queued, nobody else
// running it. It handles that one message, and Drained if due: whatever is posted meanwhile (even
// by the actor to itself) waits, and wakes the goroutine when the lender leaves, so a lender never
// runs other callers' work. It reports false, and handles nothing, when the actor is busy.
//
// A goroutine yielding waits for the others to run first: with one processor and another goroutine
// busy computing, for that one's whole time slice (10 ms). Refused then, a lone caller's every
// command was posted, and crossed three goroutines each waiting so long (a review, GOMAXPROCS=1: 27
// to 35 GETs a second beside one busy goroutine, 161 to 808 on a bare connection).
func (m *pinnedMailbox) tryRun(msg any) bool {
	m.mu.Lock()
	if !(m.sleeping || m.spinning) || m.lent || m.closed || m.suspended || len(m.user) > 0 || len(m.sys) > 0 {
		m.mu.Unlock()
		return false
	}
	m.lent = true
	m.mu.Unlock()
	drained := false
	defer func() { m.giveBack(drained) }() // even if the handler never returns (runtime.Goexit)
	m.invokeUser(msg)
	if m.notifyDrained {
		m.mu.Lock()
		idle := len(m.user) == 0 && len(m.sys) == 0
		m.mu.Unlock()
		if idle {
			m.invokeUser(DrainedMessage)
			drained = true
		}
	}
	return true
}

// giveBack ends a lend: the goroutine is woken for what was posted meanwhile, and owes the actor
// the Drained the lender could not deliver.
func (m *pinnedMailbox) giveBack(drained bool) {
	m.mu.Lock()
	m.lent = false
	if m.notifyDrained && !drained {
		m.owedDrained = true
	}
	if len(m.user) > 0 || len(m.sys) > 0 {
		m.wakeLocked()
		return
	}
	m.mu.Unlock()
}

func (m *pinnedMailbox) RegisterHandlers(invoker actor.MessageInvoker, _ actor.Dispatcher) {
	m.invoker = invoker
}

func (m *pinnedMailbox) Start() { go m.run() }

func (m *pinnedMailbox) UserMessageCount() int { return int(m.userCount.Load()) }

// keepQueued is the most messages a mailbox's queues keep room for once empty: a burst's larger
// arrays are dropped, not held for the client's life.
const keepQueued = 1 << 14

func (m *pinnedMailbox) run() {
	defer m.done()
	var sys, batch []any
	next := 0        // the next message of batch to handle
	handled := false // user messages were handled since the last Drained
	spins := 0
	for {
		m.mu.Lock()
		m.spinning = false
		if m.lent {
			// Lent while it yielded: the lender runs the actor, and wakes it when it leaves with
			// something posted meanwhile (giveBack); until then it sleeps, as if it had not yielded.
			spins = 0
			m.sleeping = true
			m.mu.Unlock()
			<-m.wake
			continue
		}
		sys, m.sys = m.sys, sys[:0]
		m.pendingSys.Store(0)
		if m.owedDrained {
			m.owedDrained, handled = false, true
		}
		if next == len(batch) && !m.suspended {
			clear(batch)
			spare := batch[:0]
			if cap(spare) > keepQueued {
				spare = nil // a burst's: not kept for the client's life
			}
			batch, m.user, next = m.user, spare, 0
		}
		if len(sys) == 0 && (next == len(batch) || m.suspended) {
			if handled && m.notifyDrained && !m.suspended {
				m.mu.Unlock()
				handled = false
				m.invokeUser(DrainedMessage)
				continue
			}
			if spins < spinBeforeSleep && !m.suspended {
				// Parking and waking a goroutine costs more than a message; yield a few times
				// first, in case the next one is about to arrive.
				spins++
				m.spinning = true
				m.mu.Unlock()
				m.yield()
				continue
			}
			spins = 0
			m.sleeping = true
			m.mu.Unlock()
			<-m.wake
			continue
		}
		spins = 0
		m.mu.Unlock()

		for i, msg := range sys {
			sys[i] = nil
			if m.invokeSystem(msg) {
				m.close(batch[next:], sys[i+1:])
				return
			}
		}
		for next < len(batch) && !m.suspended {
			msg := batch[next]
			batch[next] = nil
			next++
			m.userCount.Add(-1)
			m.invokeUser(msg)
			handled = true
			if m.pendingSys.Load() > 0 {
				break // system messages overtake user messages
			}
		}
	}
}

// invokeSystem handles one system message and reports whether the actor has stopped.
func (m *pinnedMailbox) invokeSystem(msg any) (stopped bool) {
	switch msg.(type) {
	case *actor.SuspendMailbox:
		m.suspended = true
		return false
	case *actor.ResumeMailbox:
		m.suspended = false
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	m.invoker.InvokeSystemMessage(msg)
	_, stopped = msg.(*actor.Stop)
	return stopped
}

func (m *pinnedMailbox) invokeUser(msg any) {
	defer func() {
		if r := recover(); r != nil {
			failMessage(msg, fmt.Errorf("%w: %v", ErrActorPanicked, r))
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	m.invoker.InvokeUserMessage(msg)
}

// close refuses further messages, fails the user messages that were never handled, and hands the
// system messages that never will be to dropped.
func (m *pinnedMailbox) close(rest, restSys []any) {
	m.mu.Lock()
	m.closed = true
	queued, queuedSys := m.user, m.sys
	m.user, m.sys = nil, nil
	m.mu.Unlock()
	for _, msg := range rest {
		failMessage(msg, ErrActorStopped)
	}
	for _, msg := range queued {
		failMessage(msg, ErrActorStopped)
	}
	for _, msg := range restSys {
		m.drop(msg)
	}
	for _, msg := range queuedSys {
		m.drop(msg)
	}
}

func (m *pinnedMailbox) drop(msg any) {
	if m.dropped != nil {
		m.dropped(msg)
	}
}

func failMessage(msg any, err error) {
	if env, ok := msg.(*actor.MessageEnvelope); ok {
		msg = env.Message
	}
	if f, ok := msg.(Failer); ok {
		f.Fail(err)
	}
}
