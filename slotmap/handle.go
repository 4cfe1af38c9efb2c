package slotmap

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/actors"
)

// Map is the handle of the slot-map actor. It is safe for concurrent use.
type Map struct {
	sys    *actors.System
	pid    *actor.PID
	shared *shared
}

// Start spawns the slot-map actor, which starts discovering the topology at once.
func Start(sys *actors.System, opts Options) (*Map, error) {
	opts = opts.withDefaults()
	sh := &shared{ready: make(chan struct{})}
	sh.stop, sh.cancel = context.WithCancel(context.Background())
	pid, err := sys.Spawn("", func() actor.Actor { return &mapActor{opts: opts, sys: sys, shared: sh} }, actors.SpawnOptions{})
	if err != nil {
		return nil, err
	}
	return &Map{sys: sys, pid: pid, shared: sh}, nil
}

// PID returns the actor's PID, for Moved, Resolve and Refresh messages.
func (m *Map) PID() *actor.PID { return m.pid }

// Ready waits for the first topology: nil once there is one, an error matching
// ErrRootNodesUnavailable (a *RootsError listing each root's error) when no root answered.
func (m *Map) Ready(ctx context.Context) error {
	select {
	case <-m.shared.ready:
		return m.shared.firstErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Snapshot returns the newest topology, or nil before the first.
func (m *Map) Snapshot() *Snapshot { return m.shared.snap.Load() }

// Subscribe sends every Snapshot, the current one first, to pid.
func (m *Map) Subscribe(pid *actor.PID) { m.sys.Root().Send(m.pid, &Subscribe{PID: pid}) }

// Learn returns the Ref of the node reached at announced ("host:port" as the cluster announces
// it, before NodeAddressMap), starting its node actor if the map does not know it (a master with
// no slots yet, say), as an ASK to it would. The node stays open until release is called, even
// if a new topology leaves it out; release may be called more than once. Learn fails with ctx's
// error, or ErrMapClosed once the map is closed.
func (m *Map) Learn(ctx context.Context, announced string) (ref *Ref, release func(), err error) {
	if announced == "" {
		return nil, nil, errors.New("actoredis: slot map: Learn of an empty address")
	}
	id := m.shared.leaseIDs.Add(1)
	reply := make(chan *Ref, 1)
	m.sys.Root().Send(m.pid, &learn{Addr: announced, ID: id, Reply: reply})
	end := func() { m.sys.Root().Send(m.pid, &unlearn{ID: id}) }
	select {
	case ref = <-reply:
	case <-ctx.Done():
		end() // the map may take the lease later: a release of one it does not hold does nothing
		return nil, nil, ctx.Err()
	case <-m.shared.stop.Done():
		return nil, nil, ErrMapClosed
	}
	var once sync.Once
	return ref, func() { once.Do(end) }, nil
}

// Refresh asks for a refresh of the topology.
func (m *Map) Refresh() { m.sys.Root().Send(m.pid, &Refresh{}) }

// Moved tells the map that slot moved to the node announced as announced (a MOVED): the map
// serves it from there at once, and refreshes soon, as for a dispatcher's MOVED.
func (m *Map) Moved(slot int, announced string) {
	m.sys.Root().Send(m.pid, &Moved{Slot: slot, Addr: announced})
}

// Refreshes counts the discoveries started so far (the first included).
func (m *Map) Refreshes() uint64 { return m.shared.refreshes.Load() }

// Close stops the slot map and every node actor it started, waiting up to timeout for their
// queued commands to complete.
func (m *Map) Close(timeout time.Duration) {
	m.shared.cancel() // a discovery under way ends now, not after each silent node's timeout
	m.sys.Stop(m.pid, timeout)
	m.shared.wg.Wait()
}
